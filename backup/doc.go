// Package backup implements the secret-key backup of XEP-0373 §5: the backup
// code (§5.4 step 2) and the encrypted OpenPGP message that is stored, Base64
// encoded, in the <secretkey/> element of the private PEP node
// urn:xmpp:openpgp:0:secret-key (§5.4 steps 1 and 3).
//
// A backup is an ordinary OpenPGP message, symmetrically encrypted with the
// backup code as the passphrase: a Symmetric-Key Encrypted Session Key packet
// (iterated and salted S2K, SHA-256, AES-256) followed by a Symmetrically
// Encrypted Integrity Protected Data packet (version 1, with MDC) that holds
// a binary Literal Data packet whose contents are the transferable secret
// key(s), unprotected inside (S2K usage 0). That is what `gpg --symmetric`
// makes, so GnuPG 2.2 and other clients can restore it, and what this package
// restores from other clients.
//
// The package is pure: it knows nothing about XMPP, XML or the key store.
// A typical backup:
//
//	code, err := backup.NewCode() // show code.String() to the user, once
//	msg, err := backup.Encrypt(secretKey, code)
//	// publish base64(msg) in <secretkey xmlns='urn:xmpp:openpgp:0'/>
//
// and a restore:
//
//	code, err := backup.ParseCode(typedByTheUser)
//	secretKey, err := backup.Decrypt(msg, code) // errors.Is(err, backup.ErrWrongCode)?
package backup
