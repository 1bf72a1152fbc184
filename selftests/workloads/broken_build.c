#include "zdtmtst.h"
int main(int argc, char **argv)
{
	this_is_not_c;
}
