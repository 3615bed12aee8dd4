/* rend_start.c - the rend program: main() over librend's rend_main. */
#include <rend/server.h>

int
main(int argc, char **argv)
{
    return rend_main(argc, argv);
}
