package wasmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hashicorp/go-hclog"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
	"github.com/rapidbyte/rapidbyte/sdk/batch"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// FuzzHostCalls drives every host function of module "rapidbyte" with
// fuzzed i32 arguments against fuzzed guest memory. The guest is a tiny
// hand-assembled module with one fixed 64 KiB page of memory and one
// trampoline export per import, so each call goes through wazero exactly
// as a connector's would.
//
// Inputs: mode selects the host state (bits 0-1: no stream op, rb_read
// before emit_schema, rb_read with a schema, rb_write with one pending
// batch; bit 2: ctx already cancelled; bit 3: no instance in ctx; bit 4: a
// socket to a loopback peer is open as handle 1). mem is copied to the
// start of guest memory. prog is a sequence of calls: one byte picks the
// host function (index into the sorted import names, modulo their count),
// then one little-endian u32 per parameter.
//
// Every call must return without a trap, with rc >= 0 or a negative errno
// of sdk/abi; out-of-range ranges must yield -EFAULT (with a recorded
// fault) or an error; the host may write guest memory only inside the
// buffer the call handed it, and never another module's memory. After the
// program the host must still serve well-formed calls.
func FuzzHostCalls(f *testing.F) {
	fh := newFuzzHost(f)
	for _, s := range fh.seeds() {
		f.Add(s.mode, s.mem, s.prog)
	}
	f.Fuzz(func(t *testing.T, mode uint8, mem, prog []byte) {
		fh.run(t, mode, mem, prog)
	})
}

const (
	fuzzMemSize  = 1 << 16 // one wasm page, also the maximum
	fuzzMaxCalls = 64
	fuzzCallWait = 2 * time.Millisecond // bounds sock_read waits
)

// Fuzz modes.
const (
	fuzzModeStateMask = 3
	fuzzModeRead      = 1
	fuzzModeSchema    = 2
	fuzzModeWrite     = 3
	fuzzModeCancelled = 4
	fuzzModeNoInst    = 8
	fuzzModeSocket    = 16
)

// fuzzNoState are the host functions that run even when ctx is done.
var fuzzNoState = map[string]bool{
	abi.ImportSetError: true, abi.ImportLog: true, abi.ImportSockClose: true, abi.ImportIsCancelled: true,
	abi.ImportWireRows: true,
}

var fuzzErrnos = []int32{abi.ENOENT, abi.EIO, abi.EBADF, abi.EAGAIN, abi.EFAULT, abi.EINVAL, abi.EPIPE,
	abi.ETIMEDOUT, abi.EACCES, abi.ECANCELED, abi.ECONNREFUSED, abi.ECONNRESET, abi.EHOSTUNREACH}

type fuzzHost struct {
	names    []string // host function names, sorted
	params   []int
	compiled wazero.CompiledModule
	peer     string // loopback address of the peer in the allow-list
	bschema  *batch.Schema
	aschema  *arrow.Schema
	request  []byte
	// descSeed is a valid emit_batch descriptor for bschema whose buffers
	// are at descBufs in guest memory.
	descSeed []byte
	descBufs []byte
}

func newFuzzHost(f *testing.F) *fuzzHost {
	ctx := context.Background()
	hm := testRT.wrt.Module(abi.HostModule)
	if hm == nil {
		f.Fatal("runtime has no host module")
	}
	fh := &fuzzHost{}
	defs := hm.ExportedFunctionDefinitions()
	for name := range defs {
		fh.names = append(fh.names, name)
	}
	sort.Strings(fh.names)
	for _, name := range fh.names {
		fh.params = append(fh.params, len(defs[name].ParamTypes()))
	}
	if len(fh.names) < 15 {
		f.Fatalf("host module exports only %v", fh.names)
	}
	var err error
	fh.compiled, err = testRT.wrt.CompileModule(ctx, trampolineModule(fh.names, fh.params))
	if err != nil {
		f.Fatalf("compile trampoline module: %v", err)
	}
	f.Cleanup(func() { _ = fh.compiled.Close(ctx) })

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("hello from the peer\n"))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	fh.peer = lis.Addr().String()

	if fh.bschema, err = batch.NewSchema([]abi.Field{{Name: "id", Type: "int64", Nullable: true}}); err != nil {
		f.Fatal(err)
	}
	if fh.aschema, err = ArrowSchema(fh.bschema); err != nil {
		f.Fatal(err)
	}
	fh.request, err = json.Marshal(abi.Request{Op: abi.OpRead, ConnectorID: "fuzz", Config: json.RawMessage(`{"k":"v"}`)})
	if err != nil {
		f.Fatal(err)
	}
	rec := fh.record()
	defer rec.Release()
	nodes, bufs, err := recordLayout(rec, fh.bschema, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	const bufBase = 0x200
	var words []uint32
	words = batch.AppendDescriptor(words, int(rec.NumRows()), nodes, bufs, func(b []byte) uint32 {
		addr := bufBase + uint32(len(fh.descBufs))
		fh.descBufs = append(fh.descBufs, b...)
		for len(fh.descBufs)%8 != 0 {
			fh.descBufs = append(fh.descBufs, 0)
		}
		return addr
	})
	for _, w := range words {
		fh.descSeed = binary.LittleEndian.AppendUint32(fh.descSeed, w)
	}
	return fh
}

// record returns a three-row batch of fh.aschema with one null.
func (fh *fuzzHost) record() arrow.RecordBatch {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues([]int64{1, 0, 3}, []bool{true, false, true})
	col := b.NewArray()
	defer col.Release()
	return array.NewRecordBatch(fh.aschema, []arrow.Array{col}, 3)
}

// trampolineModule assembles a wasm module that imports each named
// function of module "rapidbyte" as (i32 x params[i]) -> i32, exports a
// memory of exactly one page as "memory", and exports function i+len(names)
// as "t<i>", which passes its arguments to import i and returns its result.
func trampolineModule(names []string, params []int) []byte {
	uleb := func(b []byte, v int) []byte {
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
				continue
			}
			return append(b, c)
		}
	}
	str := func(b []byte, s string) []byte { return append(uleb(b, len(s)), s...) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(uleb(append(out, id), len(body)), body...)
	}
	const i32 = 0x7f
	maxParams := slices.Max(params)

	out := []byte("\x00asm\x01\x00\x00\x00")
	// Types: type k is (i32 x k) -> i32.
	var types []byte
	types = uleb(types, maxParams+1)
	for k := 0; k <= maxParams; k++ {
		types = append(types, 0x60)
		types = uleb(types, k)
		for range k {
			types = append(types, i32)
		}
		types = append(types, 1, i32)
	}
	out = section(out, 1, types)
	var imports []byte
	imports = uleb(imports, len(names))
	for i, name := range names {
		imports = str(imports, abi.HostModule)
		imports = str(imports, name)
		imports = append(imports, 0x00)
		imports = uleb(imports, params[i])
	}
	out = section(out, 2, imports)
	var funcs []byte
	funcs = uleb(funcs, len(names))
	for _, p := range params {
		funcs = uleb(funcs, p)
	}
	out = section(out, 3, funcs)
	out = section(out, 5, []byte{1, 0x01, 1, 1}) // one memory: min 1, max 1 page
	var exports []byte
	exports = uleb(exports, len(names)+1)
	exports = str(exports, "memory")
	exports = append(exports, 0x02, 0)
	for i := range names {
		exports = str(exports, "t"+strconv.Itoa(i))
		exports = append(exports, 0x00)
		exports = uleb(exports, len(names)+i)
	}
	out = section(out, 7, exports)
	var code []byte
	code = uleb(code, len(names))
	for i, p := range params {
		var body []byte
		body = append(body, 0) // no locals
		for k := range p {
			body = append(body, 0x20) // local.get k
			body = uleb(body, k)
		}
		body = append(body, 0x10) // call i
		body = uleb(body, i)
		body = append(body, 0x0b) // end
		code = uleb(code, len(body))
		code = append(code, body...)
	}
	return section(out, 10, code)
}

type fuzzSeed struct {
	mode uint8
	mem  []byte
	prog []byte
}

// call encodes one program step.
func (fh *fuzzHost) call(name string, args ...uint32) []byte {
	i := slices.Index(fh.names, name)
	if i < 0 {
		panic("no host function " + name)
	}
	b := []byte{byte(i)}
	for _, a := range args {
		b = binary.LittleEndian.AppendUint32(b, a)
	}
	return b
}

// encodeBlock is guest memory holding a wire_rows encoding block at 0 for
// two rows: cursors at 128, dst at 256, eight-byte values at 1024 and
// offsets at 1200 (values 0-4 and 4-8).
func encodeBlock() []byte {
	mem := make([]byte, 1212)
	words := [abi.WireArgsWords]uint64{
		abi.WireEncCursors: 128, abi.WireEncRows: 2, abi.WireEncDst: 256, abi.WireEncDstLen: 512,
		abi.WireEncValues: 1024, abi.WireEncValuesLen: 16, abi.WireEncOffsets: 1200, abi.WireEncOffsetsLen: 12,
		abi.WireEncWidth: 8,
	}
	for i, w := range words {
		binary.LittleEndian.PutUint64(mem[8*i:], w)
	}
	binary.LittleEndian.PutUint64(mem[136:], 64)
	binary.LittleEndian.PutUint32(mem[1204:], 4)
	binary.LittleEndian.PutUint32(mem[1208:], 8)
	return mem
}

// seeds are edge cases: pointers at and past the end of memory, lengths
// that overflow ptr+len, negative handles and sizes, zero capacities,
// exact fits, valid JSON and a valid batch descriptor.
func (fh *fuzzHost) seeds() []fuzzSeed {
	const end = fuzzMemSize
	neg1 := ^uint32(0)
	edges := []uint32{0, 1, end - 1, end, end + 1, 1 << 31, neg1 - 3, neg1}
	c := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	schemaJSON := []byte(`{"fields":[{"name":"id","type":"int64","nullable":true}]}`)
	cpJSON := []byte(`{"id":1,"cursor_field":"id"}`)
	addr := []byte(fh.peer)
	text := []byte("message\x00key\x00value\x00odd")
	var edgeProg []byte
	for _, p := range edges {
		for _, n := range edges {
			edgeProg = append(edgeProg, fh.call(abi.ImportSetResult, p, n)...)
		}
	}
	var seeds []fuzzSeed
	seeds = append(seeds,
		fuzzSeed{0, nil, edgeProg},
		fuzzSeed{0, text, c(
			fh.call(abi.ImportGetRequest, 0, end),
			fh.call(abi.ImportGetRequest, end-uint32(len(fh.request)), end),
			fh.call(abi.ImportGetRequest, end-uint32(len(fh.request))+1, neg1),
			fh.call(abi.ImportGetRequest, neg1, 0),
			fh.call(abi.ImportGetRequest, neg1, neg1),
			fh.call(abi.ImportSetError, 0, uint32(len(text))),
			fh.call(abi.ImportSetError, end-4, 8),
			fh.call(abi.ImportLog, 3, 0, uint32(len(text))),
			fh.call(abi.ImportLog, neg1, end-2, neg1),
			fh.call(abi.ImportLog, 1<<31, neg1, 1),
			fh.call(abi.ImportIsCancelled),
		)},
		fuzzSeed{0, []byte("keyvalue"), c(
			fh.call(abi.ImportStateGet, 0, 3, 100, 100),
			fh.call(abi.ImportStatePut, 0, 3, 3, 5),
			fh.call(abi.ImportStateGet, 0, 3, 100, 4),
			fh.call(abi.ImportStateGet, 0, 3, end-2, 5),
			fh.call(abi.ImportStateGet, 0, 3, neg1-1, 5),
			fh.call(abi.ImportStateGet, 0, 3, 100, 5),
			fh.call(abi.ImportStatePut, end-1, 3, 0, 1),
			fh.call(abi.ImportStatePut, 0, 5000, 0, 1),
			fh.call(abi.ImportStatePut, 0, 3, 0, neg1),
		)},
		fuzzSeed{0, addr, c(
			fh.call(abi.ImportSockConnect, 0, uint32(len(addr))),
			fh.call(abi.ImportSockConnect, 0, uint32(len(addr))-1),
			fh.call(abi.ImportSockConnect, end-3, 10),
			fh.call(abi.ImportSockConnect, 0, 2000),
			fh.call(abi.ImportSockRead, 1, 0, 64, 50),
			fh.call(abi.ImportSockWrite, 1, 0, 100),
			fh.call(abi.ImportSockClose, 1),
			fh.call(abi.ImportSockRead, 1, 0, 64, 0),
		)},
		fuzzSeed{fuzzModeSocket, nil, c(
			fh.call(abi.ImportSockRead, 1, 100, 64, 10),
			fh.call(abi.ImportSockRead, 1, end-8, 64, 0),
			fh.call(abi.ImportSockRead, 1, 0, 0, 1),
			fh.call(abi.ImportSockRead, 1, neg1, neg1, neg1),
			fh.call(abi.ImportSockRead, neg1, 0, 64, 0),
			fh.call(abi.ImportSockRead, 0, 0, 64, 0),
			fh.call(abi.ImportSockWrite, 1, end-10, 20),
			fh.call(abi.ImportSockWrite, 1, 0, end),
			fh.call(abi.ImportSockWrite, 1<<31, 0, 1),
			fh.call(abi.ImportSockClose, neg1),
			fh.call(abi.ImportSockClose, 1),
			fh.call(abi.ImportSockClose, 1),
			fh.call(abi.ImportSockWrite, 1, 0, 1),
		)},
		fuzzSeed{0, encodeBlock(), c(
			fh.call(abi.ImportWireRows, uint32(abi.WireEncodeFixed), 0, abi.WireArgsWords),
			fh.call(abi.ImportWireRows, uint32(abi.WireEncodeBool), 0, abi.WireArgsWords),
			fh.call(abi.ImportWireRows, uint32(abi.WireEncodeBytes), 0, abi.WireArgsWords),
			fh.call(abi.ImportWireRows, uint32(abi.WireEncodeSlots), 0, abi.WireArgsWords),
			fh.call(abi.ImportWireRows, uint32(abi.WireEncodeSlots)+1, 0, abi.WireArgsWords),
			fh.call(abi.ImportWireRows, uint32(abi.WireEncodeFixed), end-8, abi.WireArgsWords),
		)},
		fuzzSeed{fuzzModeRead, c(schemaJSON, []byte{0}, cpJSON), c(
			fh.call(abi.ImportCheckpoint, uint32(len(schemaJSON))+1, uint32(len(cpJSON))),
			fh.call(abi.ImportEmitBatch, 0, 5),
			fh.call(abi.ImportEmitSchema, 0, uint32(len(schemaJSON))),
			fh.call(abi.ImportEmitSchema, 0, uint32(len(schemaJSON))),
			fh.call(abi.ImportCheckpoint, uint32(len(schemaJSON))+1, uint32(len(cpJSON))),
			fh.call(abi.ImportNextBatch, 0, 100),
		)},
		fuzzSeed{fuzzModeSchema, fh.descMemory(), c(
			fh.call(abi.ImportEmitBatch, 0, uint32(len(fh.descSeed)/4)),
			fh.call(abi.ImportEmitBatch, 0, uint32(len(fh.descSeed)/4)-1),
			fh.call(abi.ImportEmitBatch, end-8, uint32(len(fh.descSeed)/4)),
			fh.call(abi.ImportEmitBatch, neg1-3, 1<<30),
			fh.call(abi.ImportEmitBatch, 0, neg1),
			fh.call(abi.ImportCheckpoint, 0, 0),
			fh.call(abi.ImportEmitBatch, 0, uint32(len(fh.descSeed)/4)),
		)},
		fuzzSeed{fuzzModeWrite, nil, c(
			fh.call(abi.ImportNextBatch, 0, 8),
			fh.call(abi.ImportNextBatch, end-16, end),
			fh.call(abi.ImportNextBatch, neg1, neg1),
			fh.call(abi.ImportNextBatch, 0, end),
			fh.call(abi.ImportCheckpoint, 0, 0),
			fh.call(abi.ImportNextBatch, 0, end),
			fh.call(abi.ImportEmitSchema, 0, 10),
		)},
		fuzzSeed{fuzzModeCancelled | fuzzModeSocket | fuzzModeWrite, text, c(
			fh.call(abi.ImportIsCancelled),
			fh.call(abi.ImportLog, 4, 0, 7),
			fh.call(abi.ImportSetError, 0, 7),
			fh.call(abi.ImportSetResult, 0, 7),
			fh.call(abi.ImportNextBatch, 0, end),
			fh.call(abi.ImportSockClose, 1),
		)},
		fuzzSeed{fuzzModeNoInst, text, c(
			fh.call(abi.ImportSetResult, 0, 7),
			fh.call(abi.ImportLog, 4, 0, 7),
			fh.call(abi.ImportIsCancelled),
		)},
		// A truncated final call and an out-of-range function index.
		fuzzSeed{0xff, nil, []byte{0xfe, 1, 2, 3, 4, 5}},
	)
	return seeds
}

// descMemory returns guest memory holding descSeed at 0 and its buffers at 0x200.
func (fh *fuzzHost) descMemory() []byte {
	m := make([]byte, 0x200, 0x200+len(fh.descBufs))
	copy(m, fh.descSeed)
	return append(m, fh.descBufs...)
}

// fuzzCall is one decoded program step.
type fuzzCall struct {
	fn   int
	args []uint32
}

func (fh *fuzzHost) decode(prog []byte) []fuzzCall {
	var calls []fuzzCall
	for len(prog) > 0 && len(calls) < fuzzMaxCalls {
		fn := int(prog[0]) % len(fh.names)
		prog = prog[1:]
		args := make([]uint32, fh.params[fn])
		for i := range args {
			var w [4]byte
			n := copy(w[:], prog)
			prog = prog[n:]
			args[i] = binary.LittleEndian.Uint32(w[:])
		}
		calls = append(calls, fuzzCall{fn, args})
	}
	return calls
}

// fuzzRun is the state of one fuzz input.
type fuzzRun struct {
	t      *testing.T
	fh     *fuzzHost
	mode   uint8
	in     *instance
	guest  api.Module
	state  map[string][]byte // model of the state store
	rec    arrow.RecordBatch
	cancel bool
}

func (fh *fuzzHost) run(t *testing.T, mode uint8, mem, prog []byte) {
	ctx := context.Background()
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	guest, err := testRT.wrt.InstantiateModule(ctx, fh.compiled, cfg)
	if err != nil {
		t.Fatalf("instantiate guest: %v", err)
	}
	defer guest.Close(ctx)
	canary, err := testRT.wrt.InstantiateModule(ctx, fh.compiled, cfg)
	if err != nil {
		t.Fatalf("instantiate canary: %v", err)
	}
	defer canary.Close(ctx)
	if guest.Memory().Size() != fuzzMemSize {
		t.Fatalf("guest memory is %d bytes", guest.Memory().Size())
	}
	canaryMem := bytes.Repeat([]byte{0xa5}, fuzzMemSize)
	canary.Memory().Write(0, canaryMem)
	guest.Memory().Write(0, mem[:min(len(mem), fuzzMemSize)])

	r := &fuzzRun{t: t, fh: fh, mode: mode, guest: guest, state: map[string][]byte{}, cancel: mode&fuzzModeCancelled != 0}
	r.in = &instance{connector: "fuzz", op: "read", logger: hclog.NewNullLogger(), stderr: newLogWriter(hclog.NewNullLogger(), hclog.Warn, 64)}
	r.in.socks.init()
	r.in.request = fh.request
	r.in.allow = newAllowList(nil, []string{fh.peer})
	defer r.in.socks.closeAll()
	switch mode & fuzzModeStateMask {
	case fuzzModeRead:
		r.in.read = &readState{sink: &countSink{}}
	case fuzzModeSchema:
		r.in.read = &readState{sink: &countSink{}, bschema: fh.bschema, aschema: fh.aschema}
	case fuzzModeWrite:
		r.rec = fh.record()
		defer r.rec.Release()
		ws := &writeState{src: &sliceSource{recs: []arrow.RecordBatch{r.rec}, cps: []*abi.Checkpoint{{ID: 7}}}}
		if err := ws.prefetch(ctx); err != nil {
			t.Fatal(err)
		}
		var req abi.Request
		if err := ws.setup(r.in, &req); err != nil {
			t.Fatal(err)
		}
		r.in.write = ws
		r.in.op = "write"
	}
	if rs := r.in.read; rs != nil {
		defer rs.discard()
	}
	if ws := r.in.write; ws != nil {
		defer ws.discard()
	}
	if mode&fuzzModeSocket != 0 {
		c, err := net.Dial("tcp", fh.peer)
		if err != nil {
			t.Fatal(err)
		}
		if h, ok := r.in.socks.add(&hostSock{tcp: c.(*net.TCPConn)}); !ok || h != 1 {
			t.Fatalf("socket handle %d", h)
		}
	}

	for _, c := range fh.decode(prog) {
		r.step(c)
	}
	if got, ok := canary.Memory().Read(0, fuzzMemSize); !ok || !bytes.Equal(got, canaryMem) {
		t.Fatal("a host call changed another module's memory")
	}
	r.stillUsable()
}

func (r *fuzzRun) ctx() (context.Context, context.CancelFunc) {
	base := context.Background()
	if r.mode&fuzzModeNoInst == 0 {
		base = context.WithValue(base, instanceKey{}, r.in)
	}
	if r.cancel {
		ctx, cancel := context.WithCancel(base)
		cancel()
		return ctx, cancel
	}
	return context.WithTimeout(base, fuzzCallWait)
}

// invoke calls host function fn through its trampoline.
func (r *fuzzRun) invoke(ctx context.Context, fn int, args []uint32) int32 {
	r.t.Helper()
	params := make([]uint64, len(args))
	for i, a := range args {
		params[i] = api.EncodeU32(a)
	}
	res, err := r.guest.ExportedFunction("t"+strconv.Itoa(fn)).Call(ctx, params...)
	if err != nil {
		r.t.Fatalf("%s%v: host call failed (trap or host panic): %v", r.fh.names[fn], args, err)
	}
	return api.DecodeI32(res[0])
}

func (r *fuzzRun) mem() []byte {
	b, _ := r.guest.Memory().Read(0, fuzzMemSize)
	return bytes.Clone(b)
}

// outside reports whether [p, p+n) with n > 0 leaves guest memory.
func outside[N uint32 | uint64](p uint32, n N) bool {
	return n > 0 && uint64(p)+uint64(n) > fuzzMemSize
}

// span returns b[p:p+n], or nil when n is 0; [p, p+n) must be inside b.
func span(b []byte, p, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return b[p : p+n]
}

func (r *fuzzRun) step(c fuzzCall) {
	t := r.t
	name, a := r.fh.names[c.fn], c.args
	ctx, cancel := r.ctx()
	defer cancel()
	before := r.mem()
	live := func(h uint32) bool { return r.in.socks.get(int32(h)) != nil }
	var wasLive bool
	if name == abi.ImportSockRead || name == abi.ImportSockWrite || name == abi.ImportSockClose {
		wasLive = live(a[0])
	}
	doneBefore := ctx.Err() != nil
	rc := r.invoke(ctx, c.fn, a)
	after := r.mem()

	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s%v = %d (mode %#x): "+format, append([]any{name, a, rc, r.mode}, args...)...)
	}
	if rc < 0 && !slices.Contains(fuzzErrnos, -rc) {
		fail("not a negative errno of sdk/abi")
	}
	// The host may write only [wlo, whi).
	var wlo, whi uint64
	switch name {
	case abi.ImportGetRequest, abi.ImportStateGet, abi.ImportNextBatch, abi.ImportSockRead:
		buf, capacity := a[len(a)-2], a[len(a)-1]
		if name == abi.ImportSockRead {
			buf, capacity = a[1], a[2]
		}
		if rc > 0 && uint32(rc) <= capacity {
			wlo, whi = uint64(buf), uint64(buf)+uint64(rc)
		}
		if name == abi.ImportSockRead && rc > 0 && uint32(rc) > capacity {
			fail("read more than the buffer's capacity %d", capacity)
		}
	case abi.ImportSockTLS: // a failed handshake's message
		if rc > 0 && uint32(rc) <= a[4] {
			wlo, whi = uint64(a[3]), uint64(a[3])+uint64(rc)
		}
	case abi.ImportWireRows: // wherever the guest's block says, inside its memory
		// (an op that faults on a later row may have written earlier ones)
		if rc == 0 || rc == -abi.EFAULT {
			wlo, whi = 0, fuzzMemSize
		}
	}
	if whi > fuzzMemSize {
		fail("claims to have written past the end of guest memory")
	}
	for i := range before {
		if before[i] != after[i] && (uint64(i) < wlo || uint64(i) >= whi) {
			fail("changed guest memory at %d, outside the buffer [%d, %d)", i, wlo, whi)
		}
	}

	switch {
	case r.mode&fuzzModeNoInst != 0:
		if rc != -abi.EINVAL {
			fail("want -EINVAL without an instance")
		}
		return
	case r.cancel && !fuzzNoState[name]:
		if rc != -abi.ECANCELED {
			fail("want -ECANCELED once ctx is done")
		}
		return
	case rc == -abi.ECANCELED && ctx.Err() != nil:
		return // the per-call deadline passed
	}
	wantFault := func() {
		t.Helper()
		if rc != -abi.EFAULT || r.in.fault == nil {
			fail("want -EFAULT and a recorded fault (fault %v)", r.in.fault)
		}
	}
	switch name {
	case abi.ImportGetRequest:
		req := r.fh.request
		switch {
		case uint32(len(req)) > a[1]:
			if rc != int32(len(req)) {
				fail("want the request length %d (grow and retry)", len(req))
			}
		case outside(a[0], uint32(len(req))):
			wantFault()
		case rc != int32(len(req)) || !bytes.Equal(after[a[0]:a[0]+uint32(rc)], req):
			fail("request not copied")
		}
	case abi.ImportSetResult, abi.ImportSetError:
		limit, got := uint32(maxRequestBytes), &r.in.result
		if name == abi.ImportSetError {
			limit, got = maxEnvelopeBytes, &r.in.errEnv
		}
		if a[1] > limit || outside(a[0], a[1]) {
			wantFault()
		} else if rc != 0 || !bytes.Equal(*got, span(before, a[0], a[1])) {
			fail("want 0 and a copy of the range")
		}
	case abi.ImportLog:
		n := min(a[2], maxLogBytes)
		if outside(a[1], n) != (rc == -abi.EFAULT) || rc != 0 && rc != -abi.EFAULT {
			fail("want -EFAULT exactly when [%d, +%d) is outside memory, else 0", a[1], n)
		}
	case abi.ImportStatePut:
		switch {
		case a[1] > 4096 || outside(a[0], a[1]) || a[3] > maxStateBytes || outside(a[2], a[3]):
			wantFault()
		case rc != 0:
			fail("want 0")
		default:
			r.state[string(span(before, a[0], a[1]))] = bytes.Clone(span(before, a[2], a[3]))
		}
	case abi.ImportStateGet:
		if a[1] > 4096 || outside(a[0], a[1]) {
			wantFault()
			break
		}
		v, ok := r.state[string(span(before, a[0], a[1]))]
		switch {
		case !ok:
			if rc != -abi.ENOENT {
				fail("want -ENOENT for a missing key")
			}
		case len(v) > 0 && uint32(len(v)) <= a[3] && outside(a[2], uint32(len(v))):
			wantFault()
		case rc != int32(len(v)):
			fail("want the value length %d", len(v))
		case len(v) > 0 && uint32(len(v)) <= a[3] && !bytes.Equal(span(after, a[2], uint32(len(v))), v):
			fail("value not copied")
		}
	case abi.ImportSockConnect:
		switch {
		case a[1] > 1024 || outside(a[0], a[1]):
			wantFault()
		case r.in.allow.allows(string(span(before, a[0], a[1]))):
			if rc == 0 {
				fail("handle 0 for an allowed address")
			}
		case rc != -abi.EACCES:
			fail("want -EACCES for an address off the allow-list")
		}
	case abi.ImportSockRead:
		switch {
		case !wasLive:
			if rc != -abi.EBADF {
				fail("want -EBADF for an unknown handle")
			}
		case a[2] == 0:
			if rc != -abi.EINVAL {
				fail("want -EINVAL for a zero capacity")
			}
		case outside(a[1], min(a[2], 1<<30)):
			wantFault()
		}
	case abi.ImportSockWrite:
		switch {
		case !wasLive:
			if rc != -abi.EBADF {
				fail("want -EBADF for an unknown handle")
			}
		case outside(a[1], a[2]):
			wantFault()
		case rc >= 0 && uint32(rc) != a[2]:
			fail("short write")
		}
	case abi.ImportSockClose:
		if wasLive != (rc == 0) || !wasLive && rc != -abi.EBADF {
			fail("want 0 for an open handle, else -EBADF")
		}
	case abi.ImportWireRows:
		switch {
		case a[2] != abi.WireArgsWords && rc != -abi.EINVAL:
			fail("want -EINVAL for a block of another size")
		case outside(a[1], uint64(abi.WireArgsWords)*8) && a[2] == abi.WireArgsWords:
			wantFault()
		case rc == -abi.EFAULT:
			wantFault()
		case rc != 0 && rc != -abi.EINVAL:
			fail("want 0, -EINVAL or -EFAULT")
		}
	case abi.ImportIsCancelled:
		if rc != 0 && rc != 1 || doneBefore && rc != 1 || ctx.Err() == nil && rc != 0 {
			fail("want 1 exactly when ctx is done")
		}
	case abi.ImportEmitSchema, abi.ImportCheckpoint:
		// checkpoint in rb_write ignores its arguments.
		if outside(a[0], a[1]) && rc >= 0 && (r.in.write == nil || name == abi.ImportEmitSchema) {
			fail("succeeded on a range outside memory")
		}
	case abi.ImportEmitBatch:
		if outside(a[0], uint64(a[1])*4) && rc >= 0 {
			fail("succeeded on a descriptor outside memory")
		}
	case abi.ImportNextBatch:
		if r.in.write == nil && rc != -abi.EINVAL {
			fail("want -EINVAL outside rb_write")
		}
	}
}

// stillUsable checks that well-formed calls work after the program.
func (r *fuzzRun) stillUsable() {
	ctx := context.WithValue(context.Background(), instanceKey{}, r.in)
	fn := func(name string) int { return slices.Index(r.fh.names, name) }
	req := r.fh.request
	if rc := r.invoke(ctx, fn(abi.ImportGetRequest), []uint32{100, fuzzMemSize - 100}); rc != int32(len(req)) {
		r.t.Fatalf("get_request after the program: %d", rc)
	}
	if got, _ := r.guest.Memory().Read(100, uint32(len(req))); !bytes.Equal(got, req) {
		r.t.Fatal("get_request after the program copied the wrong bytes")
	}
	if rc := r.invoke(ctx, fn(abi.ImportSetResult), []uint32{100, 8}); rc != 0 || !bytes.Equal(r.in.result, req[:8]) {
		r.t.Fatalf("set_result after the program: %d %q", rc, r.in.result)
	}
	r.guest.Memory().Write(0, []byte("fuzz-usable-key"))
	if rc := r.invoke(ctx, fn(abi.ImportStatePut), []uint32{0, 15, 100, 8}); rc != 0 {
		r.t.Fatalf("state_put after the program: %d", rc)
	}
	if rc := r.invoke(ctx, fn(abi.ImportStateGet), []uint32{0, 15, 2000, 8}); rc != 8 {
		r.t.Fatalf("state_get after the program: %d", rc)
	}
	if got, _ := r.guest.Memory().Read(2000, 8); !bytes.Equal(got, req[:8]) {
		r.t.Fatalf("state_get after the program returned %q", got)
	}
}
