//go:build e2e

package console

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMachineThroughTheForm is a user's whole path in the browser: log in with the admin's
// kubeconfig, make a Network and a Machine with user data through the forms, see it reach
// Running, read and type into its serial console, power it off and on, and delete it.
func TestMachineThroughTheForm(t *testing.T) {
	const name = "web-1"
	b := newBrowser(t)
	b.loginKubeconfig(env.Cluster.Kubeconfig)
	if user := b.text("current-user"); !strings.Contains(user, "kubernetes-admin") {
		t.Fatalf("current-user shows %q, want the admin kubernetes-admin", user)
	}
	b.screenshot("logged-in")

	b.open("/networks?namespace="+namespace, "list-networks")
	b.click("create-network")
	b.fill("field-metadata.name", network)
	b.screenshot("network-form")
	b.click("form-submit")
	// A made object opens its page.
	b.waitText("detail-networks", network, 30*time.Second)
	b.open("/networks?namespace="+namespace, "list-networks")
	b.waitText("list-networks", network, 30*time.Second)

	b.open("/machines?namespace="+namespace, "list-machines")
	b.click("create-machine")
	b.fill("field-metadata.name", name)
	// The class list is loaded from the API; wait for the suite's class to be offered.
	b.run(30*time.Second, "waiting for the class option",
		chromedp.WaitReady(chromedp.CSS(string(testID("field-spec.machineClassRef.name"))+` option[value="`+class+`"]`)))
	b.fill("field-spec.machineClassRef.name", class)
	b.fill("field-spec.image", env.Pool.GuestImage)
	b.fill("field-userData", "E2E-USERDATA-4711")
	b.fill("field-network", network)
	b.screenshot("machine-form")
	b.click("form-submit")
	start := time.Now()
	b.waitText("detail-machines", name, 30*time.Second)
	b.open("/machines?namespace="+namespace, "list-machines")
	b.waitText("state-"+name, "Running", 4*time.Minute)
	t.Logf("%s Running %v after the form was sent", name, time.Since(start).Round(100*time.Millisecond))
	b.screenshot("machine-running")

	// What the form made, as the API has it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	machine, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if machine.Spec.MachineClassRef.Name != class || machine.Spec.Image != env.Pool.GuestImage || machine.Spec.IgnitionRef == nil ||
		len(machine.Spec.NetworkInterfaces) != 1 || machine.Spec.NetworkInterfaces[0].Ephemeral == nil ||
		machine.Spec.NetworkInterfaces[0].Ephemeral.NetworkRef.Name != network {
		t.Fatalf("the form made machine spec %+v", machine.Spec)
	}

	b.open("/machines/"+name+"?namespace="+namespace, "detail-machines")
	b.waitText("conditions", "Ready", time.Minute)
	b.waitText("events", "Bound", time.Minute)
	b.screenshot("machine-detail")

	b.click("open-console")
	text := b.waitText("terminal", "GUEST-READY", 3*time.Minute)
	if !strings.Contains(text, "E2E-USERDATA-4711") {
		t.Logf("the console's visible rows do not show the user data (it may have scrolled off):\n%s", text)
	}
	b.screenshot("machine-console")
	// The line goes in as one text input (synthetic key events of printable characters reach
	// xterm.js twice, as keypress and as input, which a real keyboard does not), then Enter.
	b.run(30*time.Second, "typing into the console",
		chromedp.Click(testID("terminal")),
		chromedp.Focus(chromedp.CSS(string(testID("terminal"))+" textarea")),
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := cdp.Call(ctx, target, input.InsertText, input.InsertTextParams{Text: "echo TYPED-$((6*7))"})
			return err
		}),
		chromedp.KeyEvent(kb.Enter))
	b.waitText("terminal", "TYPED-42", time.Minute)
	b.screenshot("machine-console-typed")

	// The pool's capacity, with the running machine's class allocated.
	b.open("/pools", "capacity-chart")
	b.waitText("capacity-chart", class, 30*time.Second)
	b.screenshot("pools-capacity")

	b.open("/machines/"+name+"?namespace="+namespace, "detail-machines")
	b.click("power-off")
	b.open("/machines?namespace="+namespace, "list-machines")
	b.waitText("state-"+name, "Shutdown", 3*time.Minute)
	b.screenshot("machine-powered-off")
	b.open("/machines/"+name+"?namespace="+namespace, "detail-machines")
	b.click("power-on")
	b.open("/machines?namespace="+namespace, "list-machines")
	b.waitText("state-"+name, "Running", 3*time.Minute)
	b.screenshot("machine-powered-on")

	b.open("/machines/"+name+"?namespace="+namespace, "detail-machines")
	b.click("delete")
	b.screenshot("machine-delete-confirm")
	b.click("confirm-delete")
	b.open("/machines?namespace="+namespace, "list-machines")
	b.waitGone("row-"+name, 3*time.Minute)
	b.screenshot("machine-deleted")
	if _, err := ferrite.ComputeV1alpha1().Machines(namespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("machine %s after the delete: %v", name, err)
	}
}
