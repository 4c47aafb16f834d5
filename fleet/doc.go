// Package fleet is the layout of a fleet's crash store: which objects one uploaded
// crash is made of, what its metadata record holds, and the Store interface that an
// S3-compatible bucket and a local directory both implement. Package upload writes
// stores; package serve (gokdump serve) reads them. It is not an S3 client (minio-go
// is) and keeps no state of its own: everything a reader needs is in the store.
//
// Layout, under an optional prefix (kdump.conf's s3_prefix; "" for a directory):
//
//	crashes/<id>/meta.json          Record: written first, rewritten when the dump is in
//	crashes/<id>/vmcore-dmesg.txt   the kernel log
//	crashes/<id>/vmcore             the dump (absent when sampled out)
//	crashes/<id>/gokdump-status.json the capture's status file
//	signatures/<signature>/<id>     an empty marker per crash whose full dump was kept,
//	                                 counted for sampling
//
// <id> is "<UTC crash time as 20060102T150405Z>-<first 12 hex digits of machine-id>"
// (IDFor), so a crash has one id wherever it is uploaded from.
//
// Stores: Dir (a local directory) and S3 (a bucket through minio-go, NewS3), whose
// PutFile uploads a large file resumably (a 0600 state file beside it, parts checked
// by MD5 and SHA-256, the whole object's ETag checked at completion, or its size and
// SHA-256 where the bucket's encryption (SSE-KMS, DSSE-KMS) makes ETags something other
// than MD5s) and whose Stream uploads in order with one part in memory (the capture
// kernel's dump).
// Credentials is the key file of kdump.conf's s3_credentials (LoadCredentials
// refuses one others can read or root does not own).
package fleet
