// Package protoconv maps between the rapidbyte.v1 proto types and the guest
// ABI types of sdk/abi. Proto enums become the ABI's lower-case short names
// by dropping the enum prefix: SYNC_MODE_FULL_REFRESH <-> "full_refresh",
// ERROR_CATEGORY_TRANSIENT_DB <-> "transient_db". The zero (UNSPECIFIED)
// value maps to "" and back. Proto types stop at the transport: only
// grpcapi and modules import this package.
package protoconv
