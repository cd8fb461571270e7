package standalone

import (
	"os"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes an admin kubeconfig for server (https://host:port) to path. The
// certificates are embedded so the file can be copied elsewhere.
func WriteKubeconfig(path, server string, pki *PKI) error {
	ca, err := os.ReadFile(pki.CACert)
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(pki.AdminCert)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(pki.AdminKey)
	if err != nil {
		return err
	}
	config := clientcmdapi.NewConfig()
	config.Clusters["ferrite"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	config.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	config.Contexts["ferrite"] = &clientcmdapi.Context{Cluster: "ferrite", AuthInfo: AdminUser, Namespace: "default"}
	config.CurrentContext = "ferrite"
	return clientcmd.WriteToFile(*config, path)
}
