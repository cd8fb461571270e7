//go:build e2e

package console

import (
	"strings"
	"testing"
	"time"
)

// TestFormShowsFieldError: values the API refuses show the server's message next to the field
// it names, and nothing is made.
func TestFormShowsFieldError(t *testing.T) {
	b := newBrowser(t)
	b.loginKubeconfig(env.Cluster.Kubeconfig)
	b.open("/machines?namespace="+namespace, "list-machines")
	b.click("create-machine")
	b.fill("field-metadata.name", "Bad_Name")
	b.fill("field-spec.machineClassRef.name", class)
	b.fill("field-spec.image", env.Pool.GuestImage)
	b.click("form-submit")
	message := b.waitText("error-metadata.name", "", 30*time.Second)
	if !strings.Contains(message, "Bad_Name") && !strings.Contains(strings.ToLower(message), "lowercase") {
		t.Errorf("error-metadata.name shows %q, want the server's message about the name", message)
	}
	b.screenshot("form-field-error-name")

	b.fill("field-metadata.name", "web-bad-image")
	b.fill("field-spec.image", "Not A Valid/Image:Ref!")
	b.click("form-submit")
	message = b.waitText("error-spec.image", "", 30*time.Second)
	if message == "" {
		t.Errorf("error-spec.image is empty")
	}
	b.screenshot("form-field-error-image")
	if b.exists("row-web-bad-image") || b.exists("row-Bad_Name") {
		t.Errorf("a refused machine shows in the list")
	}
}
