package standalone

import (
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig for server (https://host:port) that trusts caFile and
// authenticates user with a client certificate. The certificates are embedded so the file can
// be copied elsewhere.
func WriteKubeconfig(path, server, caFile, certFile, keyFile, user string) error {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	config := clientcmdapi.NewConfig()
	config.Clusters["ferrite"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	config.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	config.Contexts["ferrite"] = &clientcmdapi.Context{Cluster: "ferrite", AuthInfo: user, Namespace: "default"}
	config.CurrentContext = "ferrite"
	return clientcmd.WriteToFile(*config, path)
}
