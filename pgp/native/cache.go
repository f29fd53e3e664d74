package native

import (
	"container/list"
	"sync"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// entityCache is a bounded LRU of parsed keys by fingerprint string. It
// also indexes the cached keys by the key IDs of their primary key and
// subkeys, so that opening a message finds its keys without asking the
// store (issue 5: three indexed queries per message cost a third as much
// as the cryptography).
type entityCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
	byID  map[uint64][]string // key ID -> fingerprints of cached entities
}

type cacheEntry struct {
	fpr string
	e   *openpgp.Entity
}

func newEntityCache(max int) *entityCache {
	return &entityCache{max: max, ll: list.New(), items: make(map[string]*list.Element), byID: make(map[uint64][]string)}
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

// byKeyID returns the cached entities with a primary key or subkey of key
// ID id; none when no cached entity has it (the store may still).
func (c *entityCache) byKeyID(id uint64) []*openpgp.Entity {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*openpgp.Entity
	for _, fpr := range c.byID[id] {
		if el, ok := c.items[fpr]; ok {
			c.ll.MoveToFront(el)
			out = append(out, el.Value.(*cacheEntry).e)
		}
	}
	return out
}

func (c *entityCache) put(fpr string, e *openpgp.Entity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[fpr]; ok {
		c.unindex(fpr, el.Value.(*cacheEntry).e)
		el.Value.(*cacheEntry).e = e
		c.index(fpr, e)
		c.ll.MoveToFront(el)
		return
	}
	c.items[fpr] = c.ll.PushFront(&cacheEntry{fpr, e})
	c.index(fpr, e)
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		ce := last.Value.(*cacheEntry)
		delete(c.items, ce.fpr)
		c.unindex(ce.fpr, ce.e)
	}
}

func (c *entityCache) drop(fpr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[fpr]; ok {
		c.ll.Remove(el)
		delete(c.items, fpr)
		c.unindex(fpr, el.Value.(*cacheEntry).e)
	}
}

// keyIDs are the key IDs the store indexes a key under (see Backend.put).
func keyIDs(e *openpgp.Entity) []uint64 {
	ids := []uint64{e.PrimaryKey.KeyId}
	for _, s := range e.Subkeys {
		ids = append(ids, s.PublicKey.KeyId)
	}
	return ids
}

func (c *entityCache) index(fpr string, e *openpgp.Entity) {
	for _, id := range keyIDs(e) {
		c.byID[id] = append(c.byID[id], fpr)
	}
}

func (c *entityCache) unindex(fpr string, e *openpgp.Entity) {
	for _, id := range keyIDs(e) {
		fs := c.byID[id]
		for i, f := range fs {
			if f == fpr {
				fs = append(fs[:i:i], fs[i+1:]...)
				break
			}
		}
		if len(fs) == 0 {
			delete(c.byID, id)
		} else {
			c.byID[id] = fs
		}
	}
}
