package gnupg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// What gpg knows about keys is read from colon listings and kept in a cache
// that lives as long as the keyring does not change. A change is noticed by
// stat-ing the files gpg keeps keys in (the keybox, a legacy keyring, the
// trustdb that holds the "disabled" flag and the validities, the agent's
// directory of secret keys), and those that decide validity (gpg.conf with
// the trust model, the TOFU database): a few stat calls per operation,
// instead of a gpg run. The
// cache is filled key by key, as keys are asked for, so that a keyring of
// thousands of keys is never listed whole for a message.
//
// Keyrings added in gpg.conf ("keyring FILE") are not watched: a change to
// them shows once ox's own keyring changes, or in a new Backend.

// stamp identifies the state of the keyring files.
type stamp [6]fileStamp

type fileStamp struct {
	fi os.FileInfo // nil: missing
}

var watched = [6]string{"pubring.kbx", "pubring.gpg", "trustdb.gpg", "private-keys-v1.d", "gpg.conf", "tofu.db"}

func (b *Backend) stamp() stamp {
	var s stamp
	for i, name := range watched {
		if fi, err := os.Stat(filepath.Join(b.home, name)); err == nil {
			s[i].fi = fi
		}
	}
	return s
}

func (s stamp) equal(o stamp) bool {
	for i := range s {
		a, b := s[i].fi, o[i].fi
		switch {
		case a == nil && b == nil:
			continue
		case a == nil || b == nil:
			return false
		case !a.ModTime().Equal(b.ModTime()) || a.Size() != b.Size() || !os.SameFile(a, b):
			return false
		}
	}
	return true
}

// cache is what was listed since the keyring last changed.
type cache struct {
	stamp   stamp
	mu      sync.Mutex
	keys    map[pgp.Fingerprint]pgp.KeyInfo // Secret not set: see secrets
	missing map[pgp.Fingerprint]bool
	byJID   map[string][]pgp.Fingerprint
	byKeyID map[uint64]pgp.Fingerprint
	secrets *secretSet
	// model is the trust model of gpg.conf, once asked for (modelRead;
	// see trustModel).
	model     string
	modelRead bool
}

// secretSet is the listing of secret keys: which keys have secret material
// at hand, and the key IDs of the (sub)keys that do.
type secretSet struct {
	has     map[pgp.Fingerprint]bool
	order   []pgp.Fingerprint
	byKeyID map[uint64]pgp.Fingerprint
}

// current returns the cache for the keyring as it is now.
func (b *Backend) current() *cache {
	st := b.stamp()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cache == nil || !b.cache.stamp.equal(st) {
		b.cache = &cache{
			stamp:   st,
			keys:    map[pgp.Fingerprint]pgp.KeyInfo{},
			missing: map[pgp.Fingerprint]bool{},
			byJID:   map[string][]pgp.Fingerprint{},
			byKeyID: map[uint64]pgp.Fingerprint{},
		}
	}
	return b.cache
}

func (c *cache) put(lk *listedKey, ki pgp.KeyInfo) {
	c.keys[ki.Fingerprint] = ki
	delete(c.missing, ki.Fingerprint)
	for _, id := range lk.keyIDs() {
		c.byKeyID[id] = ki.Fingerprint
	}
}

// listKeys lists the public keys that match specs (all keys for none),
// under the user's trust model, for their validity (see baseArgs), with
// their signatures checked (--check-sigs): for the certifications they
// carry (certify.go), and to tell a revoked key's own revocations from its
// parts'. (A revoked key listed without signatures would be listed again
// with them.)
func (b *Backend) listKeys(ctx context.Context, c *cache, specs ...string) ([]*listedKey, error) {
	r, err := b.runUserTrust(ctx, append([]string{"--check-sigs", "--with-subkey-fingerprint", "--"}, specs...)...)
	if err != nil {
		return nil, err
	}
	keys := parseColons(r.stdout)
	if r.exit != 0 && len(keys) == 0 {
		if notFound(r) {
			return nil, nil
		}
		return nil, b.gpgError("list keys", r, "")
	}
	for _, k := range keys {
		if k.validity() == pgp.ValidityUnknown {
			always := b.trustModel(ctx, c) == "always"
			for _, k := range keys {
				k.alwaysValid = always
			}
			break
		}
	}
	var revoked []string
	for _, k := range keys {
		if k.pub.validity == "r" && k.pub.hasFpr && !k.sigChecks {
			revoked = append(revoked, k.pub.fpr.String())
		}
	}
	if len(revoked) > 0 {
		r, err := b.run(ctx, nil, 0, append([]string{"--check-sigs", "--with-subkey-fingerprint", "--"}, revoked...)...)
		if err != nil {
			return nil, err
		}
		byFpr := map[pgp.Fingerprint]*listedKey{}
		for _, k := range parseColons(r.stdout) {
			byFpr[k.pub.fpr] = k
		}
		for i, k := range keys {
			if s, ok := byFpr[k.pub.fpr]; ok && k.pub.validity == "r" {
				keys[i] = s
			}
		}
	}
	return keys, nil
}

// notFound tells whether gpg's key listing failed only because nothing
// matched ("ERROR keylist.getkey 9" in 2.2, code 27 "not found" elsewhere).
func notFound(r *result) bool {
	for _, s := range r.all("ERROR") {
		if s.arg(0) != "keylist.getkey" {
			continue
		}
		n, _ := strconv.Atoi(s.arg(1))
		if c := n & codeMask; c == codeNoPubkey || c == 27 || c == codeNoSeckey {
			return true
		}
	}
	return false
}

// secrets lists the secret keys (gpg asks gpg-agent which it holds).
func (b *Backend) secrets(ctx context.Context, c *cache) (*secretSet, error) {
	c.mu.Lock()
	s := c.secrets
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	r, err := b.run(ctx, nil, 0, "--list-secret-keys", "--with-subkey-fingerprint")
	if err != nil {
		return nil, err
	}
	keys := parseColons(r.stdout)
	if r.exit != 0 && !notFound(r) {
		if _, kind := r.failure(); kind == nil && len(keys) == 0 {
			// Listing secret keys needs nothing but gpg-agent, and gpg
			// 2.2 says no more than "can't connect to the agent" then.
			return nil, b.errorOf("list secret keys", r, "", ErrNoAgent)
		}
		return nil, b.gpgError("list secret keys", r, "")
	}
	s = &secretSet{has: map[pgp.Fingerprint]bool{}, byKeyID: map[uint64]pgp.Fingerprint{}}
	for _, k := range keys {
		if !k.pub.hasFpr || !k.hasSecret() {
			continue
		}
		fpr := k.pub.fpr
		if !s.has[fpr] {
			s.order = append(s.order, fpr)
		}
		s.has[fpr] = true
		if k.pub.secretAtHand() {
			s.byKeyID[k.pub.keyID] = fpr
		}
		for _, sub := range k.subs {
			if sub.secretAtHand() {
				s.byKeyID[sub.keyID] = fpr
			}
		}
	}
	c.mu.Lock()
	c.secrets = s
	c.mu.Unlock()
	return s, nil
}

// keys returns the stored keys with these fingerprints, in order, from the
// cache or from one gpg listing of those not cached. A fingerprint that is
// not stored is an ErrNotFound.
func (b *Backend) keys(ctx context.Context, fprs ...pgp.Fingerprint) ([]pgp.KeyInfo, error) {
	c := b.current()
	var want []string
	c.mu.Lock()
	for _, f := range fprs {
		if _, ok := c.keys[f]; !ok && !c.missing[f] {
			want = append(want, f.String())
		}
	}
	c.mu.Unlock()
	if len(want) > 0 {
		listed, err := b.listKeys(ctx, c, want...)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		for _, lk := range listed {
			c.put(lk, lk.info())
		}
		for _, f := range fprs {
			if _, ok := c.keys[f]; !ok {
				c.missing[f] = true
			}
		}
		c.mu.Unlock()
	}
	sec, err := b.secrets(ctx, c)
	if err != nil {
		return nil, err
	}
	out := make([]pgp.KeyInfo, 0, len(fprs))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fprs {
		ki, ok := c.keys[f]
		if !ok {
			return nil, fmt.Errorf("%w: %s", pgp.ErrNotFound, f)
		}
		ki.Secret = sec.has[f]
		out = append(out, ki)
	}
	return out, nil
}

// Key returns the stored key with that fingerprint (see pgp.Backend). A
// subkey's fingerprint is not a key's: ErrNotFound.
func (b *Backend) Key(ctx context.Context, fpr pgp.Fingerprint) (pgp.KeyInfo, error) {
	ks, err := b.keys(ctx, fpr)
	if err != nil {
		return pgp.KeyInfo{}, err
	}
	return ks[0], nil
}

// keyByID finds the stored key that has a primary key or subkey with this
// key ID (the signer of a message names its signing key by key ID).
func (b *Backend) keyByID(ctx context.Context, id uint64) (pgp.KeyInfo, bool, error) {
	if id == 0 {
		return pgp.KeyInfo{}, false, nil
	}
	c := b.current()
	c.mu.Lock()
	fpr, ok := c.byKeyID[id]
	c.mu.Unlock()
	if !ok {
		listed, err := b.listKeys(ctx, c, pgp.KeyIDString(id))
		if err != nil {
			return pgp.KeyInfo{}, false, err
		}
		c.mu.Lock()
		for _, lk := range listed {
			c.put(lk, lk.info())
		}
		fpr, ok = c.byKeyID[id]
		c.mu.Unlock()
		if !ok {
			return pgp.KeyInfo{}, false, nil
		}
	}
	ki, err := b.Key(ctx, fpr)
	if errors.Is(err, pgp.ErrNotFound) {
		return ki, false, nil
	}
	return ki, err == nil, err
}

// Lookup returns every stored key with the user ID "xmpp:<bare j>", newest
// first (see pgp.Backend). gpg is asked for the keys whose user IDs contain
// that string, case-insensitively, and ox keeps those that carry it as a
// whole, compared as normalised bare JIDs: gpg's exact match (=xmpp:...)
// would miss "xmpp:Alice@Example.org", which the native backend finds.
func (b *Backend) Lookup(ctx context.Context, j jid.JID) ([]pgp.KeyInfo, error) {
	uid := pgp.UserID(j)
	c := b.current()
	c.mu.Lock()
	fprs, ok := c.byJID[uid]
	c.mu.Unlock()
	if !ok {
		listed, err := b.listKeys(ctx, c, "*"+uid)
		if err != nil {
			return nil, err
		}
		fprs = []pgp.Fingerprint{}
		c.mu.Lock()
		for _, lk := range listed {
			ki := lk.info()
			c.put(lk, ki)
			if ki.HasUserID(j) {
				fprs = append(fprs, ki.Fingerprint)
			}
		}
		c.byJID[uid] = fprs
		c.mu.Unlock()
	}
	ks, err := b.keys(ctx, fprs...)
	if err != nil {
		return nil, err
	}
	newestFirst(ks)
	return ks, nil
}

func newestFirst(ks []pgp.KeyInfo) {
	sort.SliceStable(ks, func(a, b int) bool {
		if !ks[a].Created.Equal(ks[b].Created) {
			return ks[a].Created.After(ks[b].Created)
		}
		return ks[a].Fingerprint.String() < ks[b].Fingerprint.String()
	})
}

// SecretKeys returns the keys whose secret material gpg-agent holds (or a
// smartcard): the own keys, newest first.
func (b *Backend) SecretKeys(ctx context.Context) ([]pgp.KeyInfo, error) {
	sec, err := b.secrets(ctx, b.current())
	if err != nil {
		return nil, err
	}
	ks, err := b.keys(ctx, sec.order...)
	if err != nil {
		return nil, err
	}
	newestFirst(ks)
	return ks, nil
}

// List returns every key in the keyring, in fingerprint order. It is the
// one operation that lists the whole keyring.
func (b *Backend) List(ctx context.Context) ([]pgp.KeyInfo, error) {
	c := b.current()
	listed, err := b.listKeys(ctx, c)
	if err != nil {
		return nil, err
	}
	fprs := make([]pgp.Fingerprint, 0, len(listed))
	c.mu.Lock()
	for _, lk := range listed {
		if !lk.pub.hasFpr {
			continue
		}
		c.put(lk, lk.info())
		fprs = append(fprs, lk.pub.fpr)
	}
	c.mu.Unlock()
	ks, err := b.keys(ctx, fprs...)
	if err != nil {
		return nil, err
	}
	sort.Slice(ks, func(a, b int) bool { return ks[a].Fingerprint.String() < ks[b].Fingerprint.String() })
	return ks, nil
}

// gpgError describes a failed run: an agent, pinentry or card problem by
// its kind, anything else as ErrGPG with gpg's own words.
func (b *Backend) gpgError(op string, r *result, key string) error {
	return b.errorOf(op, r, key, ErrGPG)
}

// errorOf is gpgError with the kind to report when the status lines name
// none. The detail is gpg's error text for the code of the status line,
// where ox knows it (gpg's last words on stderr are often a consequence,
// "decryption failed: No secret key", rather than the cause).
func (b *Backend) errorOf(op string, r *result, key string, fallback error) error {
	code, kind := r.failure()
	if kind == nil {
		kind = fallback
	}
	detail := describe(code)
	if detail == "" {
		detail = r.detail()
	}
	return &Error{Op: op, Err: kind, Code: code & codeMask, Key: key, Detail: detail, Advice: b.advice(kind)}
}

// clock is the time keys are judged by.
func (b *Backend) clock() time.Time { return b.now() }

// trustModel is the trust model of the user's gpg.conf ("pgp", "tofu",
// "tofu+pgp", "direct", "always", "classic", "auto"), or "" where none is
// set or it cannot be told. gpg's listings do not say which model made
// their validities, and under "always" they show every key as of unknown
// validity ("-") while gpg treats it as valid; gpgconf, GnuPG's machine
// interface to its configuration, says what gpg.conf sets:
//
//	gpgconf --homedir HOME --list-options gpg
//	trust-model:0:3::1:1::::"always
//
// (field 10 is the value, a string after its '"'). It is asked once per
// state of the keyring files, which include gpg.conf, and only when a key
// is listed with unknown validity.
func (b *Backend) trustModel(ctx context.Context, c *cache) string {
	c.mu.Lock()
	m, read := c.model, c.modelRead
	c.mu.Unlock()
	if read {
		return m
	}
	gpgconf := filepath.Join(filepath.Dir(b.gpg), "gpgconf")
	if _, err := os.Stat(gpgconf); err != nil {
		if p, err := exec.LookPath("gpgconf"); err == nil {
			gpgconf = p
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gpgconf, "--homedir", b.home, "--list-options", "gpg")
	cmd.WaitDelay = 2 * time.Second
	if out, err := cmd.Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 10 && f[0] == "trust-model" && strings.HasPrefix(f[9], "\"") {
				m = strings.ToLower(unescapeConf(f[9][1:]))
			}
		}
	}
	c.mu.Lock()
	c.model, c.modelRead = m, true
	c.mu.Unlock()
	return m
}

// unescapeConf undoes gpgconf's percent-escapes (%3a for ':').
func unescapeConf(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
