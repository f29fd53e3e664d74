// Package native is ox's embedded OpenPGP backend: ProtonMail/go-crypto
// (openpgp/v2) over the account's SQLite store (package store).
//
// Every operation passes an explicit packet.Config (see Backend.config): v4
// Ed25519/Cv25519 keys, SEIPDv1 with MDC (what GnuPG 2.2 and the other OX
// clients read), no compression on write, and a bound on what a compressed
// message may inflate to.
//
// Keys are parsed on demand and kept in a small LRU cache; the keyring handed
// to go-crypto resolves key IDs through the store's index, so decrypting a
// message costs the same with ten stored keys or a hundred thousand.
//
// Own secret keys may be protected by a passphrase (OpenPGP's own S2K
// protection, which GnuPG reads; see protect.go): they stay protected in the
// store and in exports, and are unlocked in memory, once per process,
// through WithPassphrase.
package native
