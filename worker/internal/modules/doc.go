// Package modules resolves a connector reference (id, optional version,
// optional digest) to a compiled module.
//
// Resolution order:
//  1. modules already compiled in memory, keyed by digest;
//  2. <Dir>/<id>.wasm, whose embedded manifest must declare the id (and the
//     version, when one is asked for) and whose sha256 must equal the digest,
//     when one is given;
//  3. <CacheDir>/<hex>.wasm, a module fetched earlier (digest refs only);
//  4. the coordinator's ConnectorRegistryService/FetchModule, when a
//     registry is configured; the bytes are verified against the requested
//     digest and the manifest's digest, then cached under CacheDir with an
//     atomic rename.
//
// Every module is compiled at most once per digest, even under concurrent
// first requests (singleflight). Files in Dir are hashed once per
// (size, mtime) and re-read only when they change.
package modules
