package quota

import "time"

// conflictRetryDelay is how soon an object is reconciled again after a write lost a
// resourceVersion race: by then the cache has usually caught up with the winning write.
const conflictRetryDelay = 100 * time.Millisecond
