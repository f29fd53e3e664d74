package gnupg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox/pgp"
)

// needGPG skips a test without gpg, except in CI (see requireGPG in
// gnupg_test.go).
func needGPG(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("OX_REQUIRE_INTEGRATION") != "" {
			t.Fatal("gpg is not installed (apt-get install gnupg); CI requires it")
		}
		t.Skip("gpg is not installed (apt-get install gnupg): skipping")
	}
}

func TestParseVersion(t *testing.T) {
	for _, c := range []struct {
		line, want    string
		ok, newEnough bool
	}{
		{"gpg (GnuPG) 2.2.40", "2.2.40", true, true},
		{"gpg (GnuPG/MacGPG2) 2.2.41", "2.2.41", true, true},
		{"gpg (GnuPG) 2.4.4-unknown", "2.4.4-unknown", true, true},
		{"gpg (GnuPG) 2.2.8", "2.2.8", true, false},
		{"gpg (GnuPG) 2.2.9", "2.2.9", true, true},
		{"gpg (GnuPG) 2.1.18", "2.1.18", true, false},
		{"gpg (GnuPG) 1.4.23", "1.4.23", true, false},
		{"gpg2 (GnuPG) 2.0.22", "2.0.22", true, false},
		{"gpg (GnuPG) 10.0", "10.0", true, true},
		{"sq 0.30", "", false, false},
		{"gpg (GnuPG) banana", "", false, false},
	} {
		v, ok := parseVersion(c.line)
		if v != c.want || ok != c.ok {
			t.Errorf("%q: %q %v", c.line, v, ok)
		}
		if ok && versionAtLeast(v, minVersion) != c.newEnough {
			t.Errorf("%q: new enough = %v", c.line, !c.newEnough)
		}
	}
}

// A listing as GnuPG 2.2.40 prints it (gpg --check-sigs --with-colons
// --with-subkey-fingerprint) for a revoked key with a disabled flag.
const revokedListing = `tru::1:1795701214:1858773201:3:1:5
pub:r:255:22:DEF6805346A6B760:1795701201:1858773201::-:::scD:::+::ed25519:::0:
fpr:::::::::2105910B1B30A35131AF744BDEF6805346A6B760:
grp:::::::::57E79CB23C26C4179E025C1A1D8819F6E7442F93:
rev:!::22:DEF6805346A6B760:1795701300::::xmpp\x3abob@example.org:20x,00::2105910B1B30A35131AF744BDEF6805346A6B760:::8:
uid:r::::1795701201::9D38CCE8DC0E82FEFCE445643AE2BA82566133A4::xmpp\x3abob@example.org::::::::::0:
sig:!::22:DEF6805346A6B760:1795701201::::xmpp\x3abob@example.org:13x::2105910B1B30A35131AF744BDEF6805346A6B760:::8:
uid:r::::1795701201::1111111111111111111111111111111111111111::Bob \x3cbob\x40example.org\x3e::::::::::0:
sig:!::22:DEF6805346A6B760:1795701201::::Bob:13x::2105910B1B30A35131AF744BDEF6805346A6B760:::8:
rev:!::22:DEF6805346A6B760:1795701250::::Bob:30x::2105910B1B30A35131AF744BDEF6805346A6B760:::8:
sub:r:255:18:D38801DD92A429BD:1795701201:1858773999:::::e:::#::cv25519::
fpr:::::::::4C4D7E0F42049B447CFD965CD38801DD92A429BD:
sig:!::22:DEF6805346A6B760:1795701201::::xmpp\x3abob@example.org:18x::2105910B1B30A35131AF744BDEF6805346A6B760:::8:
sub:r:255:22:AAAAAAAAAAAAAAAA:1795701201::::::s:::D2760001240102010006041234560000::ed25519::
fpr:::::::::BBBBBBBBBBBBBBBBBBBBBBBBAAAAAAAAAAAAAAAA:
rev:!::22:DEF6805346A6B760:1795701260::::xmpp\x3abob@example.org:28x::2105910B1B30A35131AF744BDEF6805346A6B760:::8:
`

func TestParseColons(t *testing.T) {
	keys := parseColons([]byte(revokedListing))
	if len(keys) != 1 {
		t.Fatalf("%d keys", len(keys))
	}
	k := keys[0]
	ki := k.info()
	if ki.Fingerprint.String() != "2105910B1B30A35131AF744BDEF6805346A6B760" || ki.Algorithm != "ed25519" {
		t.Errorf("%+v", ki)
	}
	if !ki.Revoked || !ki.RevokedAt.Equal(time.Unix(1795701300, 0)) || !ki.Expires.Equal(time.Unix(1858773201, 0)) {
		t.Errorf("revoked %v at %v, expires %v", ki.Revoked, ki.RevokedAt, ki.Expires)
	}
	if ki.Capabilities.String() != "CS" || !k.disabled {
		t.Errorf("capabilities %s disabled %v", ki.Capabilities, k.disabled)
	}
	// The key is revoked; of its user IDs only "Bob <...>" is revoked itself.
	if len(ki.UserIDs) != 1 || ki.UserIDs[0] != "xmpp:bob@example.org" {
		t.Errorf("user IDs %q", ki.UserIDs)
	}
	if len(ki.Subkeys) != 2 || ki.Subkeys[0].Revoked || !ki.Subkeys[1].Revoked {
		t.Fatalf("subkeys %+v", ki.Subkeys)
	}
	if s := ki.Subkeys[0]; s.Algorithm != "cv25519" || !s.Expires.Equal(ki.Expires) || s.Capabilities.String() != "E" {
		t.Errorf("subkey %+v: expiry is the primary key's, the earlier", s)
	}
	if !k.hasSecret() || k.pub.secretAtHand() != true || k.subs[0].secretAtHand() || !k.subs[1].secretAtHand() {
		t.Errorf("secret: + on the primary key, # (stub) and a card's serial on the subkeys")
	}
	if got := k.keyIDs(); len(got) != 3 || got[1] != 0xD38801DD92A429BD {
		t.Errorf("key IDs %X", got)
	}
	// Without signatures in the listing, a revoked key keeps its user IDs.
	plain := strings.ReplaceAll(revokedListing, "\nrev:", "\nxxx:")
	plain = strings.ReplaceAll(plain, "\nsig:", "\nxxx:")
	if ki := parseColons([]byte(plain))[0].info(); len(ki.UserIDs) != 2 || ki.Subkeys[1].Revoked {
		t.Errorf("without signatures: %q %+v", ki.UserIDs, ki.Subkeys)
	}
	if unescape(`Bob \x3cbob\x40example.org\x3e \x`) != `Bob <bob@example.org> \x` {
		t.Error(unescape(`Bob \x3cbob\x40example.org\x3e \x`))
	}
}

func TestReadSignature(t *testing.T) {
	st := func(lines ...string) *result {
		var r result
		r.status = readStatus(strings.NewReader("[GNUPG:] " + strings.Join(lines, "\n[GNUPG:] ") + "\n"))
		return &r
	}
	good := readSignature(st("PLAINTEXT 62 1795701201", "NEWSIG",
		"GOODSIG E3BCF44FB7D57AAB xmpp:alice@example.org",
		"VALIDSIG 7DB9421BC6957E240000507604C3957803AE96F9 2026-11-26 1795701201 0 4 0 22 10 00 AEA367C7F7657BC5704D1DC1E3BCF44FB7D57AAB",
		"NEWSIG", "BADSIG 1111111111111111 mallory"))
	if good.kind != "GOODSIG" || good.keyID != 0x04C3957803AE96F9 || !good.created.Equal(time.Unix(1795701201, 0)) ||
		good.primary != "AEA367C7F7657BC5704D1DC1E3BCF44FB7D57AAB" || good.explainsExit() {
		t.Errorf("%+v", good)
	}
	if good.verdict(nil, "") != nil {
		t.Error("a good signature has an error")
	}
	unknown := readSignature(st("NEWSIG", "ERRSIG E3BCF44FB7D57AAB 22 10 00 1795701201 9 AEA367C7F7657BC5704D1DC1E3BCF44FB7D57AAB", "NO_PUBKEY E3BCF44FB7D57AAB"))
	var se *pgp.SignatureError
	if err := unknown.verdict(nil, ""); !errors.As(err, &se) || !se.Unknown || se.KeyID != 0xE3BCF44FB7D57AAB || !unknown.explainsExit() {
		t.Errorf("%+v %v", unknown, err)
	}
	// EXPKEYSIG: an error only if the key had expired when it signed.
	exp := readSignature(st("NEWSIG", "EXPKEYSIG EF067B800F256E94 xmpp:old@example.org",
		"VALIDSIG 8217E0CA0EF68E3319A27213EF067B800F256E94 2026-11-24 1795529219 0 4 0 22 8 00 8217E0CA0EF68E3319A27213EF067B800F256E94"))
	signer := &pgp.KeyInfo{Expires: time.Unix(1795614811, 0)}
	if err := exp.verdict(signer, exp.signing); err != nil {
		t.Errorf("signed while valid: %v", err)
	}
	signer.Expires = time.Unix(1795529219, 0)
	if err := exp.verdict(signer, exp.signing); !errors.As(err, &se) || se.Unknown {
		t.Errorf("signed when expired: %v", err)
	}
	for _, kw := range []string{"REVKEYSIG", "EXPSIG", "BADSIG"} {
		s := readSignature(st("NEWSIG", kw+" EF067B800F256E94 someone"))
		if err := s.verdict(signer, ""); !errors.As(err, &se) || se.Unknown || se.Reason == "" {
			t.Errorf("%s: %v", kw, err)
		}
	}
}

func TestKindOf(t *testing.T) {
	for code, want := range map[int]error{
		67108949:  ErrNoPinentry,    // agent: No pinentry
		83918950:  ErrNoPinentry,    // pinentry: Inappropriate ioctl for device
		83886179:  ErrCanceled,      // pinentry: Operation cancelled
		67108875:  ErrBadPassphrase, // agent: Bad passphrase
		33554509:  ErrNoAgent,       // gpg: No agent running
		100663408: ErrCard,          // scd: Card not present
		100663414: ErrCard,          // scd: anything else
		67108983:  ErrCard,          // agent: No SmartCard daemon
		16777226:  nil,              // gcrypt: Checksum error (a damaged session key)
		9:         nil,
	} {
		if got := kindOf(code); got != want {
			t.Errorf("%d: %v, want %v", code, got, want)
		}
	}
}

func TestPackets(t *testing.T) {
	if !passphraseEncrypted([]byte{0xc3, 0x02, 0x04, 0x09, 0xd2, 0x00}) {
		t.Error("SKESK not seen")
	}
	if passphraseEncrypted([]byte{0xc1, 0x01, 0x03, 0xd2, 0x00}) || passphraseEncrypted([]byte("hello")) {
		t.Error("SKESK seen where there is none")
	}
	// old-format public key packet, v4 / v6
	for v, want := range map[byte]error{4: nil, 6: pgp.ErrUnsupportedKey, 3: pgp.ErrUnsupportedKey} {
		if err := checkKeyPackets([]byte{0x98, 0x01, v}); !errors.Is(err, want) {
			t.Errorf("v%d: %v", v, err)
		}
	}
	for _, bad := range [][]byte{{0xc1, 0x01, 0x03}, {0xb9, 0x00, 0x01, 0x04}, {0x98, 0x05, 0x04}, {0x42}} {
		if err := checkKeyPackets(bad); !errors.Is(err, pgp.ErrMalformed) {
			t.Errorf("% x: %v", bad, err)
		}
	}
	if _, err := keyBlocks([]byte("-----BEGIN PGP MESSAGE-----\n\nhQ==\n-----END PGP MESSAGE-----\n")); !errors.Is(err, pgp.ErrMalformed) {
		t.Error(err)
	}
}

// Sending and reading a message run gpg once each: the keys it needs come
// from the cache, however many keys the keyring holds.
func TestOneRunPerMessage(t *testing.T) {
	needGPG(t)
	ctx := context.Background()
	home, err := os.MkdirTemp("", "oxgpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	b, err := New(Options{Home: home})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := jid.Parse("me@example.org")
	me, err := b.Generate(ctx, j, pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := pgp.SealOptions{Signer: me.Fingerprint, Recipients: []pgp.Fingerprint{me.Fingerprint}}
	ct, err := b.Seal(ctx, []byte("warm"), opts) // fills the cache
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, ct); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup(ctx, j); err != nil {
		t.Fatal(err)
	}
	before := b.runs.Load()
	for i := 0; i < 3; i++ {
		ct, err := b.Seal(ctx, []byte("hello"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(ctx, ct); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Lookup(ctx, j); err != nil {
			t.Fatal(err)
		}
		if _, err := b.SecretKeys(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.runs.Load() - before; n != 6 {
		t.Errorf("3 messages sealed and opened ran gpg %d times, want 6: the keyring changed under the cache?", n)
	}
}

// A key whose secret lives on a smartcard that is not there (here: a
// shadowed key, as 'gpg --card-status' leaves one, and no scdaemon): its
// use fails with ErrCard and a hint, and it cannot be backed up.
func TestSmartcardAbsent(t *testing.T) {
	needGPG(t)
	ctx := context.Background()
	home, err := os.MkdirTemp("", "oxgpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	b, err := New(Options{Home: home, NoPinentry: true})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := jid.Parse("card@example.org")
	me, err := b.Generate(ctx, j, pgp.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := b.Seal(ctx, []byte("x"), pgp.SealOptions{Recipients: []pgp.Fingerprint{me.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	// The encryption subkey's public point, from its packet: version,
	// time, algorithm, curve OID, then the point as an MPI.
	pub, err := b.ExportPublic(ctx, me.Fingerprint, nil)
	if err != nil {
		t.Fatal(err)
	}
	var q []byte
	for rest := pub; len(rest) > 0 && q == nil; {
		p, r, err := nextPacket(rest)
		if err != nil {
			t.Fatal(err)
		}
		if p.tag == tagPublicSub {
			oid := int(p.body[6])
			bits := int(p.body[7+oid])<<8 | int(p.body[8+oid])
			q = p.body[9+oid : 9+oid+(bits+7)/8]
		}
		rest = r
	}
	r, err := b.run(ctx, nil, 0, "--list-secret-keys", "--with-keygrip", me.Fingerprint.String())
	if err != nil {
		t.Fatal(err)
	}
	var grip string
	inSub := false
	for _, line := range strings.Split(string(r.stdout), "\n") {
		f := strings.Split(line, ":")
		switch {
		case f[0] == "ssb":
			inSub = true
		case f[0] == "grp" && inSub && len(f) > 9:
			grip = f[9]
		}
	}
	if grip == "" || q == nil {
		t.Fatalf("keygrip %q, point %x", grip, q)
	}
	exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
	shadow := fmt.Sprintf("Key: (shadowed-private-key (ecc (curve Curve25519)(flags djb-tweak)(q #%X#)(shadowed t1-v1 (#D2760001240102010006041234560000# OPENPGP.2))))\n", q)
	if err := os.WriteFile(filepath.Join(home, "private-keys-v1.d", grip+".key"), []byte(shadow), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := b.Key(ctx, me.Fingerprint); err != nil || !k.Secret {
		t.Fatalf("a key on a card is an own key: %+v %v", k, err)
	}
	_, err = b.Open(ctx, ct)
	var ge *Error
	if !errors.Is(err, ErrCard) || !errors.As(err, &ge) || ge.Hint() == "" {
		t.Fatalf("open with the card absent: %v", err)
	}
	t.Log(err, "/", ge.Hint())
	if _, err := b.ExportSecret(ctx, me.Fingerprint); !errors.Is(err, pgp.ErrNoSecretKey) {
		t.Errorf("backup of a key on a card: %v", err)
	}
}
