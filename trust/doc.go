// Package trust decides which of a contact's keys ox encrypts to and how it
// presents what they sign: the states a (JID, key) pair can be in, the
// policies that give a newly seen key its first state, and the rules that
// follow from them. It is pure: the store keeps the states and their
// history, the client applies them.
package trust
