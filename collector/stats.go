package collector

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Stats says what a collection did, in the terms of makedumpfile's --show-stats report.
// Page counts are of distinct page frames; its JSON form (WriteJSON) is a stable
// interface: fields are only ever added.
type Stats struct {
	Format    string `json:"format"`
	Codec     string `json:"codec"`
	DumpLevel int    `json:"dump_level"`
	PageSize  uint64 `json:"page_size"`

	// TotalPages is max_mapnr: the pfns up to the highest one of memory.
	TotalPages uint64 `json:"total_pages"`
	// OriginalPages are the pfns some PT_LOAD of the vmcore holds; the rest of
	// TotalPages is HolePages.
	OriginalPages uint64 `json:"original_pages"`
	HolePages     uint64 `json:"hole_pages"`

	// Excluded pages, by why. Zero pages count here in every format, although a
	// kdump-compressed dump keeps them (as one shared zero page) in its bitmap.
	ExcludedZero         uint64 `json:"excluded_zero"`
	ExcludedCache        uint64 `json:"excluded_cache"`         // page cache without private data
	ExcludedCachePrivate uint64 `json:"excluded_cache_private"` // page cache with private data
	ExcludedUser         uint64 `json:"excluded_user"`
	ExcludedFree         uint64 `json:"excluded_free"`
	ExcludedHWPoison     uint64 `json:"excluded_hwpoison"`
	ExcludedOffline      uint64 `json:"excluded_offline"`
	// ExcludedNoData are pages the source dump itself does not hold (refiltering a
	// filtered dump).
	ExcludedNoData uint64 `json:"excluded_no_data"`
	ExcludedPages  uint64 `json:"excluded_pages"` // the sum of the above
	// RemainingPages is OriginalPages - ExcludedPages: the pages whose data is in
	// the dump.
	RemainingPages uint64 `json:"remaining_pages"`
	// DumpedPages is the number of page descriptors of a kdump-compressed dump
	// (set bits of its 2nd bitmap, zero pages included) or the pages an ELF dump's
	// PT_LOADs hold (short runs of excluded pages stay in an ELF dump, as with
	// makedumpfile).
	DumpedPages uint64 `json:"dumped_pages"`
	// ELFExcludedPages is the number of pages actually left out of an ELF dump.
	ELFExcludedPages uint64 `json:"elf_excluded_pages,omitempty"`

	// Classified is false when struct pages could not be classified (the dump
	// level then only leaves out zero pages); Warnings say why.
	Classified bool `json:"classified"`
	// UnreadableStructPages counts pfns whose struct page could not be read; they
	// were kept.
	UnreadableStructPages uint64 `json:"unreadable_struct_pages,omitempty"`

	// ReclassifiedPages counts the pfns that pass 2 of a kdump-compressed dump
	// classified a second time, reading their struct pages again (each part of a
	// split dump counts its own): those of the windows past what pass 1's kept
	// bitmap had room for.
	ReclassifiedPages uint64 `json:"reclassified_pages"`

	BytesWritten int64         `json:"bytes_written"`
	Duration     time.Duration `json:"duration_ns"`
	// PeakRSS is the peak resident set of the collecting process when the collection
	// ended (getrusage ru_maxrss, bytes; 0 where the system does not say): in the
	// capture service and in "gokdump dump" the collector is what the process does,
	// so this is the collector's memory high-water mark.
	PeakRSS    int64    `json:"peak_rss_bytes,omitempty"`
	Incomplete bool     `json:"incomplete"`
	DryRun     bool     `json:"dry_run,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
}

func (s *Stats) sumExcluded() {
	s.ExcludedPages = s.ExcludedZero + s.ExcludedCache + s.ExcludedCachePrivate + s.ExcludedUser +
		s.ExcludedFree + s.ExcludedHWPoison + s.ExcludedOffline + s.ExcludedNoData
	s.RemainingPages = s.OriginalPages - min(s.ExcludedPages, s.OriginalPages)
}

// WriteReport prints the statistics as makedumpfile's --show-stats does, so that
// scripts and eyes used to it find the same lines.
func (s *Stats) WriteReport(w io.Writer) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\n")
	p("Original pages  : 0x%016x\n", s.OriginalPages)
	p("  Excluded pages   : 0x%016x\n", s.ExcludedPages)
	if s.Format == ELF.String() {
		p("     in ELF format : 0x%016x\n", s.ELFExcludedPages)
	}
	p("    Pages filled with zero  : 0x%016x\n", s.ExcludedZero)
	p("    Non-private cache pages : 0x%016x\n", s.ExcludedCache)
	p("    Private cache pages     : 0x%016x\n", s.ExcludedCachePrivate)
	p("    User process data pages : 0x%016x\n", s.ExcludedUser)
	p("    Free pages              : 0x%016x\n", s.ExcludedFree)
	p("    Hwpoison pages          : 0x%016x\n", s.ExcludedHWPoison)
	p("    Offline pages           : 0x%016x\n", s.ExcludedOffline)
	if s.ExcludedNoData > 0 {
		p("    Pages not in the source : 0x%016x\n", s.ExcludedNoData)
	}
	p("  Remaining pages  : 0x%016x\n", s.RemainingPages)
	excluded := s.ExcludedPages
	if s.Format == ELF.String() {
		p("     in ELF format : 0x%016x\n", s.OriginalPages-min(s.ELFExcludedPages, s.OriginalPages))
		excluded = s.ELFExcludedPages
	}
	if s.OriginalPages != 0 {
		p("  (The number of pages is reduced to %d%%.)\n", (s.OriginalPages-min(excluded, s.OriginalPages))*100/s.OriginalPages)
	}
	p("Memory Hole     : 0x%016x\n", s.HolePages)
	p("--------------------------------------------------\n")
	p("Total pages     : 0x%016x\n", s.TotalPages)
	p("Write bytes     : %d\n", s.BytesWritten)
	p("Time            : %.3f s\n", s.Duration.Seconds())
	if s.Incomplete {
		p("The dump is INCOMPLETE.\n")
	}
	_, err := fmt.Fprintf(w, "\n")
	return err
}

// WriteJSON prints the statistics as one indented JSON object.
func (s *Stats) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
