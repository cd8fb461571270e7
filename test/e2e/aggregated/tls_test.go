//go:build e2e

package aggregated

import "crypto/tls"

// insecureTLS skips server verification: the test checks what ferrite-apiserver answers to a
// client without credentials, not who the server is.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec
