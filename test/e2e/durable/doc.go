// Package durable is what the end-to-end tests of crashes and failovers (test/e2e/crash,
// test/e2e/ha) share: clients that create objects through an apiserver being killed, retry
// what is left open with the same name, and classify every error they see; and the checks
// afterwards that every acknowledged create is stored, whole and exactly once.
package durable
