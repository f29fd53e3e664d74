package native

import (
	"container/list"
	"sync"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// entityCache is a bounded LRU of parsed keys by fingerprint string.
type entityCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	fpr string
	e   *openpgp.Entity
}

func newEntityCache(max int) *entityCache {
	return &entityCache{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

func (c *entityCache) get(fpr string) (*openpgp.Entity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[fpr]; ok {
		c.ll.MoveToFront(el)
		return el.Value.(*cacheEntry).e, true
	}
	return nil, false
}

func (c *entityCache) put(fpr string, e *openpgp.Entity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[fpr]; ok {
		el.Value.(*cacheEntry).e = e
		c.ll.MoveToFront(el)
		return
	}
	c.items[fpr] = c.ll.PushFront(&cacheEntry{fpr, e})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).fpr)
	}
}

func (c *entityCache) drop(fpr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[fpr]; ok {
		c.ll.Remove(el)
		delete(c.items, fpr)
	}
}
