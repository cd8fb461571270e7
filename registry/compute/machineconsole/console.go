// Package machineconsole serves machines/console: it finds the Machine's pool and proxies the
// request, a WebSocket session or a plain GET for the scrollback, to the console endpoint of
// the pool's machinepoollet (MachinePool.status.runtimeEndpoint), as kube-apiserver proxies
// pods/attach to the kubelet.
package machineconsole

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/ferrite-dev/ferrite/apis/compute"
)

// Subresource is the subresource's name; the apiserver treats requests to it as long-running.
const Subresource = "console"

// forwardedParams are the query parameters passed on to the poollet: the streaming protocol's
// and the console's own.
var forwardedParams = []string{"stdin", "stdout", "stderr", "tty", compute.MachineConsoleLogsParam, compute.MachineConsoleTailBytesParam}

// REST is the machines/console subresource.
type REST struct {
	// Machines and Pools read Machines and MachinePools.
	Machines, Pools rest.Getter
	// Authorizer checks the create verb of interactive sessions, which arrive as GET.
	Authorizer authorizer.Authorizer
	// Transport returns the transport to poollets (client certificate, poollet CA); nil when
	// the apiserver has none, and then every request is refused with 503.
	Transport func() (*http.Transport, error)
}

var _ rest.Connecter = &REST{}

// New returns an empty Machine, the kind the subresource belongs to.
func (r *REST) New() runtime.Object { return &compute.Machine{} }

// Destroy releases nothing: the Machine store owns the storage.
func (r *REST) Destroy() {}

// ConnectMethods are GET (WebSocket upgrades and the scrollback) and POST.
func (r *REST) ConnectMethods() []string { return []string{http.MethodGet, http.MethodPost} }

// NewConnectOptions: the query parameters are passed on as they are, see forwardedParams.
func (r *REST) NewConnectOptions() (runtime.Object, bool, string) { return nil, false, "" }

// Connect returns the handler proxying the request for Machine name to its poollet.
func (r *REST) Connect(ctx context.Context, name string, _ runtime.Object, responder rest.Responder) (http.Handler, error) {
	if r.Transport == nil {
		return nil, apierrors.NewServiceUnavailable("machine consoles are not configured on this apiserver: it needs --poollet-client-certificate, --poollet-client-key and --poollet-certificate-authority")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// ctx, not req's: it carries the namespace.
		handler, err := r.proxy(ctx, name, req, responder)
		if err != nil {
			responder.Error(err)
			return
		}
		handler.ServeHTTP(w, req)
	}), nil
}

// proxy authorizes a session, resolves the poollet's endpoint and returns the proxy to it.
// req's query is narrowed to forwardedParams and its credentials removed.
func (r *REST) proxy(ctx context.Context, name string, req *http.Request, responder rest.Responder) (http.Handler, error) {
	query := url.Values{}
	for _, key := range forwardedParams {
		if values, ok := req.URL.Query()[key]; ok {
			query[key] = values
		}
	}
	// The scrollback is read access (get); a session writes to the guest (create), whatever
	// the HTTP method: a WebSocket handshake is a GET.
	if query.Get(compute.MachineConsoleLogsParam) != "true" {
		if err := r.authorize(ctx, "create"); err != nil {
			return nil, err
		}
	}
	obj, err := r.Machines.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	machine := obj.(*compute.Machine)
	ref := machine.Spec.MachinePoolRef
	if ref == nil {
		return nil, apierrors.NewConflict(compute.Resource("machines"), name, errors.New("the machine is not scheduled to a machine pool yet"))
	}
	poolObj, err := r.Pools.Get(genericapirequest.WithNamespace(ctx, ""), ref.Name, &metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("the machine's pool %s does not exist", ref.Name))
	}
	if err != nil {
		return nil, err
	}
	endpoint := poolObj.(*compute.MachinePool).Status.RuntimeEndpoint
	location, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || location.Scheme != "https" || location.Host == "" {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("machine pool %s publishes no console endpoint (status.runtimeEndpoint %q is not https://HOST:PORT): its machinepoollet runs without --console-bind-address", ref.Name, endpoint))
	}
	query.Set(compute.MachineConsoleUIDParam, string(machine.UID))
	location.Path = path.Join(location.Path, compute.MachineConsolePathPrefix, machine.Namespace, machine.Name)
	location.RawQuery = query.Encode()

	transport, err := r.Transport()
	if err != nil {
		return nil, apierrors.NewServiceUnavailable("machine consoles: " + err.Error())
	}
	// The poollet trusts the apiserver's certificate, not the user's credentials: none are
	// passed on.
	for key := range req.Header {
		if lower := strings.ToLower(key); lower == "authorization" || lower == "cookie" || strings.HasPrefix(lower, "impersonate-") || strings.HasPrefix(lower, "x-remote-") {
			req.Header.Del(key)
		}
	}
	req.URL.RawQuery = location.RawQuery
	handler := proxy.NewUpgradeAwareHandler(location, transport, false, false, &errorResponder{responder: responder, pool: ref.Name, endpoint: endpoint})
	handler.UseLocationHost = true
	return handler, nil
}

// authorize checks that the requesting user may use verb on machines/console.
func (r *REST) authorize(ctx context.Context, verb string) error {
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok {
		return apierrors.NewInternalError(errors.New("no request info"))
	}
	if info.Verb == verb {
		return nil // the authorization filter checked it
	}
	if r.Authorizer == nil {
		return apierrors.NewInternalError(errors.New("machines/console has no authorizer"))
	}
	attributes, err := filters.GetAuthorizerAttributes(ctx)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	decision, reason, err := r.Authorizer.Authorize(ctx, withVerb{Attributes: attributes, verb: verb})
	if decision == authorizer.DecisionAllow {
		return nil
	}
	if reason == "" && err != nil {
		reason = err.Error()
	}
	return apierrors.NewForbidden(compute.Resource("machines"), info.Name,
		fmt.Errorf("an interactive console session needs %s on machines/console: %s", verb, reason))
}

// withVerb is attributes with another verb.
type withVerb struct {
	authorizer.Attributes
	verb string
}

func (a withVerb) GetVerb() string { return a.verb }

// errorResponder reports a failure to reach the poollet as 503, naming the pool.
type errorResponder struct {
	responder      rest.Responder
	pool, endpoint string
}

func (e *errorResponder) Error(_ http.ResponseWriter, _ *http.Request, err error) {
	e.responder.Error(apierrors.NewServiceUnavailable(fmt.Sprintf("cannot reach the console endpoint of machine pool %s at %s: %v", e.pool, e.endpoint, err)))
}
