// Package volumescheduler binds unscheduled Volumes to VolumePools.
//
// A pool is feasible for a volume when it offers the volume's class in status.allocatable (bytes
// per class), is Ready with a fresh heartbeat, matches spec.volumePoolSelector, carries no taint
// the volume does not tolerate, and has at least the volume's requested storage free: allocatable
// less the bytes its ledger holds for the class. The pool's status.reservations is that ledger:
// a scheduler appends the volume's UID and size with a resourceVersion precondition before it
// sets spec.volumePoolRef, so concurrent schedulers can never give away the same bytes twice. A
// reservation left by a scheduler that crashed between the two writes is completed by the next
// attempt; the ledger reconciler drops entries whose volume is gone or bound elsewhere, adopts
// volumes bound without one, and follows a bound volume's growth.
package volumescheduler
