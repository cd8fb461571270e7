package login

import (
	"crypto/tls"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// inlineOnly is how errors say what the console takes instead.
const inlineOnly = "the console takes only credentials written inside the kubeconfig (token, or client-certificate-data and client-key-data)"

// fromKubeconfig is the configuration of the user of contextName (default: the current
// context) in the kubeconfig data. The kubeconfig's clusters are ignored.
func fromKubeconfig(base *rest.Config, data []byte, contextName string) (*Result, error) {
	kubeconfig, err := clientcmd.Load(data)
	if err != nil {
		return nil, badRequest("kubeconfig: %v", err)
	}
	if contextName == "" {
		contextName = kubeconfig.CurrentContext
		if contextName == "" {
			return nil, badRequest("kubeconfig: no context given and current-context is not set")
		}
	}
	context, ok := kubeconfig.Contexts[contextName]
	if !ok {
		return nil, badRequest("kubeconfig: context %q not found", contextName)
	}
	user, ok := kubeconfig.AuthInfos[context.AuthInfo]
	if !ok {
		return nil, badRequest("kubeconfig: user %q of context %q not found", context.AuthInfo, contextName)
	}
	if err := checkInline(user); err != nil {
		return nil, badRequest("kubeconfig: user %q %v", context.AuthInfo, err)
	}
	config := userConfig(base)
	if user.Token != "" {
		if err := checkToken(user.Token); err != nil {
			return nil, badRequest("kubeconfig: user %q: token: %v", context.AuthInfo, err)
		}
		config.BearerToken = user.Token
	}
	if len(user.ClientCertificateData) > 0 || len(user.ClientKeyData) > 0 {
		if _, err := tls.X509KeyPair(user.ClientCertificateData, user.ClientKeyData); err != nil {
			return nil, badRequest("kubeconfig: user %q: client-certificate-data and client-key-data: %v", context.AuthInfo, err)
		}
		config.CertData, config.KeyData = user.ClientCertificateData, user.ClientKeyData
	}
	if config.BearerToken == "" && len(config.CertData) == 0 {
		return nil, badRequest("kubeconfig: user %q has no token or client certificate", context.AuthInfo)
	}
	namespace := context.Namespace
	if namespace == "" {
		namespace = "default"
	}
	return &Result{Config: config, Namespace: namespace}, nil
}

// checkInline refuses credentials that are not in the kubeconfig's text: exec plugins and auth
// providers would run on the console's host, file paths would read its disk. Basic auth and
// impersonation are refused as well: the console sends neither.
func checkInline(user *clientcmdapi.AuthInfo) error {
	switch {
	case user.Exec != nil:
		return fmt.Errorf("needs an exec plugin (exec: %s): %s", user.Exec.Command, inlineOnly)
	case user.AuthProvider != nil:
		return fmt.Errorf("needs an auth provider (auth-provider: %s): %s", user.AuthProvider.Name, inlineOnly)
	case user.ClientCertificate != "":
		return fmt.Errorf("refers to a file (client-certificate: %s): %s", user.ClientCertificate, inlineOnly)
	case user.ClientKey != "":
		return fmt.Errorf("refers to a file (client-key: %s): %s", user.ClientKey, inlineOnly)
	case user.TokenFile != "":
		return fmt.Errorf("refers to a file (tokenFile: %s): %s", user.TokenFile, inlineOnly)
	case user.Username != "" || user.Password != "":
		return fmt.Errorf("has a username and password: basic authentication is not supported; %s", inlineOnly)
	case user.Impersonate != "" || user.ImpersonateUID != "" || len(user.ImpersonateGroups) > 0 || len(user.ImpersonateUserExtra) > 0:
		return fmt.Errorf("impersonates another user (as): the console acts only as the user itself")
	}
	return nil
}
