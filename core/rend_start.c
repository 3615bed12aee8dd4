/* rend_start.c - the program entry; everything else is in librendcore. */
int rend_main(int argc, char **argv);

int
main(int argc, char **argv)
{
    return rend_main(argc, argv);
}
