package wasmhost

const mapNoReserve = 0
