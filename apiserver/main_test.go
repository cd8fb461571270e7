package apiserver_test

import (
	"os"
	"testing"

	"github.com/ferrite-dev/ferrite/apiserver/testserver"
)

// server is shared by the tests of this package: starting one takes about a second, and
// every test works in its own namespace or with its own names.
var server *testserver.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ferrite-apiserver-test-")
	if err != nil {
		panic(err)
	}
	server, err = testserver.StartInDir(dir)
	if err != nil {
		panic(err)
	}
	code := m.Run()
	server.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}
