// Package validation checks the field types that several Ferrite API groups share: object
// references, resource lists, taints and tolerations, IP addresses and CIDRs, label
// selectors. Each function returns errors that name the offending field.
package validation
