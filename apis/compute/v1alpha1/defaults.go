package v1alpha1

import "k8s.io/apimachinery/pkg/runtime"

// DefaultIgnitionKey is the Secret key read for user data when ignitionRef.key is empty.
const DefaultIgnitionKey = "ignition.json"

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_MachineSpec powers machines on unless asked otherwise.
func SetDefaults_MachineSpec(spec *MachineSpec) {
	if spec.Power == "" {
		spec.Power = PowerOn
	}
}

// SetDefaults_SecretKeySelector fills the conventional ignition key.
func SetDefaults_SecretKeySelector(selector *SecretKeySelector) {
	if selector.Key == "" {
		selector.Key = DefaultIgnitionKey
	}
}

// SetDefaults_TopologySpreadConstraint allows a skew of one and refuses pools that would break it.
func SetDefaults_TopologySpreadConstraint(c *TopologySpreadConstraint) {
	if c.MaxSkew == 0 {
		c.MaxSkew = 1
	}
	if c.WhenUnsatisfiable == "" {
		c.WhenUnsatisfiable = DoNotSchedule
	}
}
