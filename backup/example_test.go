package backup_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"

	"codeberg.org/ox/ox/backup"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Back up a secret key, and restore it with the code as the user types it.
func Example() {
	secretKey, err := os.ReadFile("testdata/alice.secret.asc") // armored or binary
	if err != nil {
		log.Fatal(err)
	}

	code, err := backup.NewCode() // show code.String() to the user, once
	if err != nil {
		log.Fatal(err)
	}
	msg, err := backup.Encrypt(secretKey, code) // publish it, Base64, in <secretkey/>
	if err != nil {
		log.Fatal(err)
	}

	// On another device, the user types the code.
	typed := strings.ToLower(strings.ReplaceAll(code.String(), "-", " "))
	parsed, err := backup.ParseCode(typed)
	if err != nil {
		log.Fatal(err) // a *backup.CodeError says what is wrong, and where
	}
	restored, err := backup.Decrypt(msg, parsed)
	if err != nil {
		log.Fatal(err)
	}
	e, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(restored)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("restored %X, unprotected: %v\n", e.PrimaryKey.Fingerprint, !e.PrivateKey.Encrypted)

	other, _ := backup.NewCode()
	_, err = backup.Decrypt(msg, other)
	fmt.Println("with another code:", errors.Is(err, backup.ErrWrongCode))
	// Output:
	// restored 73E8035BCB948EB3533F153767EE3E8BF07535FA, unprotected: true
	// with another code: true
}

func ExampleParseCode() {
	for _, typed := range []string{
		" twnk kd5y mt3t e1gs drdb kvtw ",
		"TWNK-KD5Y-MT3T-E1GS-DRDB-KVT0",
		"TWNK-KD5Y-MT3T",
	} {
		code, err := backup.ParseCode(typed)
		fmt.Println(code, err)
	}
	// Output:
	// TWNK-KD5Y-MT3T-E1GS-DRDB-KVTW <nil>
	//  backup: invalid backup code: character 29, '0' (in group 6), is not allowed: a backup code has only the digits 1-9 and the letters A-Z except O
	//  backup: invalid backup code: it has 12 characters, want 24 (six groups of four, like XXXX-XXXX-XXXX-XXXX-XXXX-XXXX)
}
