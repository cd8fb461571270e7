//go:build e2e

package console

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium with its own profile, so two users never share cookies.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// screenshots numbers the screenshots of the whole run in the order they were taken.
var screenshots atomic.Int32

// newBrowser starts Chromium for the test; it stops when the test ends. The flags keep it off
// the network this machine does not have (background updates, QUIC, sync).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	options := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	allocator, cancelAllocator := chromedp.NewExecAllocator(context.Background(), options...)
	ctx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(func() { cancel(); cancelAllocator() })
	// Every page records its API requests and how they ended, for the failure messages.
	record := chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordRequests})
		return err
	})
	if err := chromedp.Do(ctx, record); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return &browser{t: t, ctx: ctx}
}

// recordRequests wraps the page's fetch so that window.__requests lists each request: when it
// started, its method and path, and its status or error when it ended (ms since the page loaded).
const recordRequests = `(() => {
  const requests = window.__requests = [];
  const original = window.fetch;
  window.fetch = async (...args) => {
    const entry = {start: Math.round(performance.now()), method: (args[1] && args[1].method) || 'GET', url: String(args[0].url || args[0])};
    requests.push(entry);
    if (requests.length > 200) requests.shift();
    try {
      const response = await original(...args);
      entry.status = response.status; entry.end = Math.round(performance.now());
      return response;
    } catch (error) {
      entry.error = String(error); entry.end = Math.round(performance.now());
      throw error;
    }
  };
})()`

// requests is the page's request record, one line per request, for failure messages.
func (b *browser) requests() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	lines, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(window.__requests || []).map(r => r.start + 'ms ' + r.method + ' ' + r.url + ' -> ' + (r.end === undefined ? 'PENDING' : (r.status || r.error) + ' at ' + r.end + 'ms'))`))
	return strings.Join(lines, "\n")
}

// run runs actions with a timeout, failing the test (after a screenshot) when they fail.
func (b *browser) run(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("failed-" + what)
		b.t.Fatalf("%s: %v\npage text:\n%s\nrequests:\n%s", what, err, b.pageText(), b.requests())
	}
}

// testID is the CSS selector of the element with that data-testid.
func testID(id string) chromedp.CSS { return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id)) }

// screenshot saves the whole page as output/NN-name.png.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(output, fmt.Sprintf("%02d-%s.png", screenshots.Add(1), name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
	return path
}

// pageText is the page's visible text, for failure messages.
func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return text
}

// open navigates to the console's path and waits for the element testid.
func (b *browser) open(path, testid string) {
	b.t.Helper()
	b.run(time.Minute, "opening "+path, chromedp.Navigate(console.URL+path), chromedp.WaitVisible(testID(testid)))
}

// click clicks the element testid once it is visible.
func (b *browser) click(testid string) {
	b.t.Helper()
	b.run(30*time.Second, "clicking "+testid, chromedp.WaitVisible(testID(testid)), chromedp.Click(testID(testid)))
}

// fill sets the value of the input, textarea or select testid the way typing would, so that
// the app's change handlers see it (typing a whole kubeconfig key by key is slow).
func (b *browser) fill(testid, value string) {
	b.t.Helper()
	selector, _ := json.Marshal(string(testID(testid)))
	text, _ := json.Marshal(value)
	script := fmt.Sprintf(`(() => {
  const el = document.querySelector(%s);
  if (!el) return false;
  const proto = Object.getPrototypeOf(el);
  Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, %s);
  el.dispatchEvent(new Event('input', {bubbles: true}));
  el.dispatchEvent(new Event('change', {bubbles: true}));
  return true;
})()`, selector, text)
	b.run(30*time.Second, "waiting for "+testid, chromedp.WaitVisible(testID(testid)))
	if !evaluate[bool](b, script) {
		b.t.Fatalf("filling %s: no such element", testid)
	}
}

// text is the visible text of the element testid.
func (b *browser) text(testid string) string {
	b.t.Helper()
	b.run(30*time.Second, "waiting for "+testid, chromedp.WaitVisible(testID(testid)))
	return evaluate[string](b, fmt.Sprintf(`document.querySelector(%q).innerText`, string(testID(testid))))
}

// exists says whether an element testid is in the page now.
func (b *browser) exists(testid string) bool {
	b.t.Helper()
	return evaluate[bool](b, fmt.Sprintf(`document.querySelector(%q) !== null`, string(testID(testid))))
}

// waitText waits until the text of the element testid contains want (with want "": until it
// shows any text), and returns it.
func (b *browser) waitText(testid, want string, timeout time.Duration) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		last, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const el = document.querySelector(%q); return el ? el.innerText : ""; })()`, string(testID(testid)))))
		cancel()
		if err == nil && strings.Contains(last, want) && strings.TrimSpace(last) != "" {
			return last
		}
		if time.Now().After(deadline) {
			b.screenshot("failed-waiting-" + testid)
			b.t.Fatalf("%s did not show %q within %v; it shows %q (error %v)\npage text:\n%s\nrequests:\n%s", testid, want, timeout, last, err, b.pageText(), b.requests())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitGone waits until no element testid is in the page.
func (b *browser) waitGone(testid string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for b.exists(testid) {
		if time.Now().After(deadline) {
			b.screenshot("failed-still-there-" + testid)
			b.t.Fatalf("%s still there after %v", testid, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// evaluate runs a script in the page, waits for its promise if it returns one, and returns
// its result as T.
func evaluate[T any](b *browser, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	result, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.screenshot("failed-script")
		b.t.Fatalf("evaluating %s: %v", script, err)
	}
	return result
}

// loginKubeconfig logs in with the contents of a kubeconfig and waits for the user's name.
func (b *browser) loginKubeconfig(path string) {
	b.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.t.Fatal(err)
	}
	b.open("/", "login-kubeconfig")
	b.fill("login-kubeconfig", string(data))
	b.screenshot("login-kubeconfig")
	b.click("login-submit")
	b.run(time.Minute, "waiting for the logged-in page", chromedp.WaitVisible(testID("current-user")))
}

// loginToken logs in with a bearer token.
func (b *browser) loginToken(token string) {
	b.t.Helper()
	b.open("/", "login-token")
	b.fill("login-token", token)
	b.click("login-submit")
	b.run(time.Minute, "waiting for the logged-in page", chromedp.WaitVisible(testID("current-user")))
}
