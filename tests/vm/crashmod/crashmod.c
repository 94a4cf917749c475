// SPDX-License-Identifier: GPL-2.0
/*
 * crashmod: misbehaves on purpose inside the VM rig's guest, so that the rig's
 * tests can check that vm.sh notices. what=oops dereferences a NULL pointer
 * while loading; what=warn triggers a WARN() and loads.
 */
#include <linux/bug.h>
#include <linux/compiler.h>
#include <linux/module.h>
#include <linux/string.h>

static char *what = "oops";
module_param(what, charp, 0444);
MODULE_PARM_DESC(what, "oops or warn");

/* Never set: writing through it is the NULL pointer dereference. */
static int *crash_target;

static int __init crashmod_init(void)
{
	if (!strcmp(what, "warn")) {
		WARN(1, "crashmod: a warning on purpose\n");
		return 0;
	}
	if (!strcmp(what, "oops")) {
		WRITE_ONCE(*crash_target, 1);
		return 0;
	}
	return -EINVAL;
}

static void __exit crashmod_exit(void)
{
}

module_init(crashmod_init);
module_exit(crashmod_exit);
MODULE_DESCRIPTION("Kernel crashes on demand for the VM rig's tests");
MODULE_LICENSE("GPL");
