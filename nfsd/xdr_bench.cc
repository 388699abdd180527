// Why the hot path decodes with XdrReader instead of libtirpc's xdrmem (xdr.h): a WRITE call's
// payload is referenced in place, where xdr_bytes copies it into a buffer of its own.
// Run: build-*/nfsd/nfsd_xdr_bench

#include <benchmark/benchmark.h>
#include <rpc/rpc.h>

#include <vector>

#include "nfsd/xdr.h"

namespace {

using rootfarm::nfsd::XdrReader;
using rootfarm::nfsd::XdrWriter;

// WRITE3args: fh<64>, offset, count, stable, data<> with `payload` bytes.
std::vector<uint8_t> write_args(size_t payload) {
    std::vector<uint8_t> v;
    XdrWriter w(v);
    std::vector<uint8_t> fh(40, 7), data(payload, 0x5a);
    w.opaque(fh);
    w.u64(1 << 20);
    w.u32(static_cast<uint32_t>(payload));
    w.u32(0);
    w.opaque(data);
    return v;
}

void BM_DecodeWriteXdrReader(benchmark::State& state) {
    auto args = write_args(state.range(0));
    for (auto _ : state) {
        XdrReader r(args);
        auto fh = r.opaque(64);
        uint64_t offset = r.u64();
        uint32_t count = r.u32();
        uint32_t stable = r.u32();
        auto data = r.opaque(1u << 21);
        benchmark::DoNotOptimize(fh.data());
        benchmark::DoNotOptimize(offset + count + stable);
        benchmark::DoNotOptimize(data.data());
    }
    state.SetBytesProcessed(state.iterations() * args.size());
}

void BM_DecodeWriteXdrmem(benchmark::State& state) {
    auto args = write_args(state.range(0));
    std::vector<char> fh(64), data(state.range(0));
    for (auto _ : state) {
        XDR x;
        xdrmem_create(&x, reinterpret_cast<char*>(args.data()), args.size(), XDR_DECODE);
        char* fhp = fh.data();
        u_int fhlen = 0;
        uint64_t offset = 0;
        u_int count = 0, stable = 0;
        char* dp = data.data();
        u_int dlen = 0;
        bool ok = xdr_bytes(&x, &fhp, &fhlen, 64) && xdr_uint64_t(&x, &offset) &&
                  xdr_u_int(&x, &count) && xdr_u_int(&x, &stable) &&
                  xdr_bytes(&x, &dp, &dlen, 1u << 21);
        benchmark::DoNotOptimize(ok);
        xdr_destroy(&x);
    }
    state.SetBytesProcessed(state.iterations() * args.size());
}

BENCHMARK(BM_DecodeWriteXdrReader)->Arg(4096)->Arg(1 << 20);
BENCHMARK(BM_DecodeWriteXdrmem)->Arg(4096)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
