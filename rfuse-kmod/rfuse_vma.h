/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vm_flags of a VMA being mapped: written directly up to 6.2, through
 * vm_flags_mod() (which asserts the mmap lock) from 6.3 on.
 */
#ifndef _RFUSE_VMA_H
#define _RFUSE_VMA_H

#include <linux/mm.h>
#include <linux/version.h>

static inline void rfuse_vm_flags_mod(struct vm_area_struct *vma,
				      vm_flags_t set, vm_flags_t clear)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#else
	vm_flags_mod(vma, set, clear);
#endif
}

#endif /* _RFUSE_VMA_H */
