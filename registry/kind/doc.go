// Package kind turns a short, explicit description of a Ferrite resource (its spec and status
// accessors, validation, selectable fields and table columns) into REST storage on the generic
// registry and etcd. Every Ferrite kind gets the same semantics from here:
//   - create clears status and sets metadata.generation to 1;
//   - an update of the main resource keeps status and bumps generation only on a spec change;
//   - the status subresource changes status only.
package kind
