// Package scheduler binds unscheduled objects (Machines, Volumes) to pools (MachinePools,
// VolumePools). It is written once over a small adapter per kind (Kind); the packages
// machinescheduler and volumescheduler are its two instantiations.
//
// The scheduler is a single placement loop over an in-memory view built from informers: it takes
// a batch of pending objects, filters and scores the pools for each one against the pools'
// ledgers plus what it has placed and not yet seen written (so a burst never over-fills a pool
// or a zone), and hands each pool's share of the batch to that pool's group commit. The commit
// adds the placements to the pool's ledger in one status update preconditioned on the pool's
// resourceVersion; only then are the objects bound through their binding subresource.
//
// The ledger (status.allocated, status.allocatedRevision and status.reservations) does not grow
// with the objects on a pool: allocated counts the bound objects per class, reservations holds
// only placements in flight. Every ledger write first settles the ledger against the tally of
// bound objects observed through the informer: entries whose object is seen bound move into
// allocated, and allocated is recounted. A recount is made only from a view at least as new as
// the one the stored counts came from (status.allocatedRevision), so a second manager with a
// lagging cache can add reservations but never lower a count. See docs/controllers.md.
package scheduler
