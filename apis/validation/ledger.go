package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxLedgerReservations caps a pool's status.reservations. The list holds only placements in
// flight (the schedulers keep far fewer), so the cap keeps a pool object small at any number of
// objects on the pool instead of letting a stuck ledger grow towards etcd's request limit.
const MaxLedgerReservations = 1024

// ValidateLedger checks the counted part of a pool's scheduling ledger (status.allocated) and
// the length of its in-flight part (status.reservations).
func ValidateLedger(allocated corev1.ResourceList, reservations int, statusPath *field.Path) field.ErrorList {
	errs := ValidateResourceList(allocated, nil, statusPath.Child("allocated"))
	if reservations > MaxLedgerReservations {
		errs = append(errs, field.TooMany(statusPath.Child("reservations"), reservations, MaxLedgerReservations))
	}
	return errs
}
