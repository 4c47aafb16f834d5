package x86

import "container/list"

// tableCache keeps the most recently used page-table pages, keyed by their
// physical address. Translating every struct page of a large machine walks
// the same few PUD/PMD tables millions of times; reading them again from a
// compressed or remote dump each time would dominate the run. It is not safe
// for concurrent use: AddressSpace guards it with its mutex.
type tableCache struct {
	limit  int
	order  *list.List // front: most recently used; values are *cachedTable
	byPhys map[uint64]*list.Element
}

type cachedTable struct {
	phys uint64
	page *[PageSize]byte
}

func newTableCache(limit int) *tableCache {
	return &tableCache{limit: limit, order: list.New(), byPhys: make(map[uint64]*list.Element, limit)}
}

func (c *tableCache) get(phys uint64) *[PageSize]byte {
	e, ok := c.byPhys[phys]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedTable).page
}

func (c *tableCache) put(phys uint64, page *[PageSize]byte) {
	if e, ok := c.byPhys[phys]; ok {
		e.Value.(*cachedTable).page = page
		c.order.MoveToFront(e)
		return
	}
	if c.order.Len() >= c.limit {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byPhys, oldest.Value.(*cachedTable).phys)
	}
	c.byPhys[phys] = c.order.PushFront(&cachedTable{phys: phys, page: page})
}
