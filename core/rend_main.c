#include <stdio.h>
int rend_main(int argc, char **argv);
int rend_main(int argc, char **argv) { (void)argc; (void)argv; puts("rend"); return 0; }
