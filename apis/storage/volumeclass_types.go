package storage

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResizePolicy says whether volumes of a class may grow after create.
type ResizePolicy string

const (
	// ResizePolicyStatic forbids changing a volume's size.
	ResizePolicyStatic ResizePolicy = "Static"
	// ResizePolicyExpandOnly allows growing, never shrinking.
	ResizePolicyExpandOnly ResizePolicy = "ExpandOnly"
)

// EncryptionFormat is how volumes of a class are encrypted at rest.
type EncryptionFormat string

const (
	// EncryptionFormatLUKS2 encrypts each volume with LUKS2 under a passphrase of its own, which
	// the volume's pool generates and keeps where tenants cannot read it.
	EncryptionFormatLUKS2 EncryptionFormat = "LUKS2"
)

// VolumeEncryption is the encryption at rest of a class's volumes.
type VolumeEncryption struct {
	// Format is the encryption format: LUKS2.
	Format EncryptionFormat `json:"format"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeClass is a storage tier: the IOPS and throughput a volume of the class gets.
type VolumeClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Capabilities of a volume of this class: "iops" and "tps" (bytes per second) are required.
	// Immutable.
	Capabilities corev1.ResourceList `json:"capabilities"`
	// ResizePolicy says whether volumes may grow after create. Defaults to Static.
	// +optional
	ResizePolicy ResizePolicy `json:"resizePolicy,omitempty"`
	// Encryption encrypts every volume of the class at rest; unset means not encrypted. Immutable.
	// +optional
	Encryption *VolumeEncryption `json:"encryption,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// VolumeClassList is a list of VolumeClasses.
type VolumeClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the volume classes.
	Items []VolumeClass `json:"items"`
}
