// Package ranges merges address ranges, so that memory several PT_LOADs describe
// (the kernel-text alias and a direct-map load, overlapping or touching loads) is
// counted and searched once. It is used by the x86 page-table walker (which refuses
// tables outside the dump's memory) and by the crash report (which lists that memory);
// it knows nothing of dumps itself.
package ranges
