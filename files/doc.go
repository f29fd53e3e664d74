// Package files shares files as the other OX clients do (Gajim, Profanity,
// go-sendxmpp, Conversations): the file is encrypted with AES-256-GCM,
// uploaded with HTTP File Upload (XEP-0363), and its aesgcm:// URL
// (XEP-0454: the IV and the key in the URL's fragment) is the body of the
// OX-encrypted message, so the server sees only ciphertext. Encryption and
// decryption stream: no file is held in memory whole; a downloaded file is
// kept only once its GCM tag has been checked.
package files
