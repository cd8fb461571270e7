// Package machinescheduler binds unscheduled Machines to MachinePools.
//
// A pool is feasible for a machine when it offers the machine's class in status.allocatable, is
// Ready with a fresh heartbeat, matches spec.machinePoolSelector, carries no taint the machine does
// not tolerate, and has fewer reservations of the class than it allocates. The pool's
// status.reservations is the ledger that makes over-commit impossible: a scheduler appends the
// machine's UID with a resourceVersion precondition before it sets spec.machinePoolRef, so two
// schedulers (or two workers with a stale cache) can never both take the last slot. A scheduler
// that crashes between the two writes leaves a reservation that the next attempt completes (it
// binds to the pool that already holds the machine's UID), and the ledger reconciler drops
// entries whose machine is gone or bound elsewhere and adopts machines bound without one.
package machinescheduler
