// Native kernels for TF.js training on the CPU, over oneDNN.
//
// Every kernel reads and writes tensors in place in the caller's ArrayBuffer (the wasm backend's
// WebAssembly.Memory): the JS side passes the buffer and byte offsets, so activations are never copied
// between memories. Layouts are TF.js's own: NHWC activations, HWIO filters, row-major matrices.
//
// Written against the oneDNN 2.x C++ API (operation descriptors); the 3.x constructors are selected by
// DNNL_VERSION_MAJOR (untested: this project's machines have 2.6.3).
//
// Threading: oneDNN here runs on OpenMP, whose thread count is a per-calling-thread setting. Each Node
// worker thread is its own OS thread, so each keeps its own count (default 1: the study runs one cell per
// core) and its own primitive cache; nothing below is shared between threads.
#include <napi.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <oneapi/dnnl/dnnl_version.h>

#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct ThreadState {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  int threads = 1;
  bool blockedWeights = true;
  std::unordered_map<std::string, std::shared_ptr<void>> cache;
  uint64_t calls = 0;
};

ThreadState& state() {
  thread_local ThreadState s;
  return s;
}

// The OpenMP runtime is the one oneDNN was built against; looking it up at run time keeps the addon free of
// a link-time dependency on a particular OpenMP (libgomp on Debian, libomp elsewhere).
void applyThreads(int n) {
  using SetFn = void (*)(int);
  static SetFn set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set) set(n);
}

std::string dimsString(const std::vector<int64_t>& d) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < d.size(); i++) o << (i ? "," : "") << d[i];
  o << "]";
  return o.str();
}

[[noreturn]] void fail(Napi::Env env, const std::string& op, const std::string& shapes, const std::string& why) {
  throw Napi::Error::New(env, "native " + op + " " + shapes + ": " + why);
}

// The caller's memory: a (possibly just grown) ArrayBuffer, re-fetched by JS on every call.
struct Heap {
  uint8_t* base;
  size_t bytes;
  float* at(Napi::Env env, const std::string& op, const std::string& shapes, double offset, size_t count) const {
    if (!(offset >= 0) || offset != std::floor(offset) || offset + double(count) * 4 > double(bytes)) {
      fail(env, op, shapes, "tensor at byte offset " + std::to_string(int64_t(offset)) + " with " + std::to_string(count) +
                                " floats lies outside the " + std::to_string(bytes) + "-byte buffer");
    }
    if (size_t(offset) % 4 != 0) fail(env, op, shapes, "misaligned tensor offset");
    return reinterpret_cast<float*>(base + size_t(offset));
  }
};

Heap heapOf(const Napi::Value& v, Napi::Env env, const std::string& op) {
  if (!v.IsArrayBuffer()) fail(env, op, "", "first argument must be an ArrayBuffer");
  auto ab = v.As<Napi::ArrayBuffer>();
  return Heap{static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
}

std::vector<double> numbers(const Napi::Value& v, Napi::Env env, const std::string& op, size_t want) {
  if (!v.IsTypedArray()) fail(env, op, "", "expected a Float64Array of arguments");
  auto a = v.As<Napi::Float64Array>();
  if (a.ElementLength() < want) fail(env, op, "", "expected " + std::to_string(want) + " arguments");
  return std::vector<double>(a.Data(), a.Data() + a.ElementLength());
}

// ---------------------------------------------------------------------------------------------------------
// Convolution. dims = n, h, w, ci, kh, kw, co, oh, ow, sh, sw, padTop, padLeft, padBottom, padRight.

struct ConvDims {
  int64_t n, h, w, ci, kh, kw, co, oh, ow, sh, sw, pt, pl, pb, pr;
  memory::dims src() const { return {n, ci, h, w}; }
  memory::dims wei() const { return {co, ci, kh, kw}; }
  memory::dims dst() const { return {n, co, oh, ow}; }
  std::string shapes() const {
    return "x" + dimsString({n, h, w, ci}) + " filter" + dimsString({kh, kw, ci, co}) + " y" + dimsString({n, oh, ow, co}) +
           " strides" + dimsString({sh, sw}) + " pads" + dimsString({pt, pl, pb, pr});
  }
  std::string key(const char* op, bool blocked) const {
    std::ostringstream o;
    o << op << blocked << ':' << n << ',' << h << ',' << w << ',' << ci << ',' << kh << ',' << kw << ',' << co << ',' << oh << ','
      << ow << ',' << sh << ',' << sw << ',' << pt << ',' << pl << ',' << pb << ',' << pr;
    return o.str();
  }
};

ConvDims convDims(const std::vector<double>& a, size_t at) {
  ConvDims d;
  int64_t* f = &d.n;
  for (int i = 0; i < 15; i++) f[i] = int64_t(a[at + i]);
  return d;
}

void checkConv(Napi::Env env, const char* op, const ConvDims& d) {
  const int64_t* f = &d.n;
  for (int i = 0; i < 11; i++)
    if (f[i] <= 0) fail(env, op, d.shapes(), "every size and stride must be positive");
  for (int i = 11; i < 15; i++)
    if (f[i] < 0) fail(env, op, d.shapes(), "negative padding");
  if ((d.h + d.pt + d.pb - d.kh) / d.sh + 1 != d.oh || (d.w + d.pl + d.pr - d.kw) / d.sw + 1 != d.ow)
    fail(env, op, d.shapes(), "output size does not match the input size, filter, strides and pads");
}

memory::desc md(const memory::dims& dims, tag t) { return memory::desc(dims, dt::f32, t); }

dnnl::convolution_forward::primitive_desc convForwardPd(const ConvDims& d, bool blocked, dnnl::prop_kind prop) {
  auto& s = state();
#if DNNL_VERSION_MAJOR >= 3
  return dnnl::convolution_forward::primitive_desc(s.engine, prop, dnnl::algorithm::convolution_direct, md(d.src(), tag::nhwc),
                                                   md(d.wei(), blocked ? tag::any : tag::hwio), md(d.dst(), tag::nhwc),
                                                   {d.sh, d.sw}, {d.pt, d.pl}, {d.pb, d.pr});
#else
  dnnl::convolution_forward::desc desc(prop, dnnl::algorithm::convolution_direct, md(d.src(), tag::nhwc),
                                       md(d.wei(), blocked ? tag::any : tag::hwio), md(d.dst(), tag::nhwc), {d.sh, d.sw},
                                       {d.pt, d.pl}, {d.pb, d.pr});
  return dnnl::convolution_forward::primitive_desc(desc, s.engine);
#endif
}

// A primitive plus, when it wants its weights in a blocked layout, the reorder between that layout and HWIO
// and a buffer for the reordered weights (weights are small next to activations, so reordering per call
// costs little and keeps TF.js's filter tensors in TF.js's layout).
struct ConvEntry {
  dnnl::primitive prim;
  memory::desc weightsMd;
  bool reorderWeights = false;
  dnnl::reorder weightsReorder;
  std::vector<float> weightsBuf;
};

std::shared_ptr<ConvEntry> cached(const std::string& key, const std::function<std::shared_ptr<ConvEntry>()>& make) {
  auto& c = state().cache;
  auto it = c.find(key);
  if (it != c.end()) return std::static_pointer_cast<ConvEntry>(it->second);
  auto e = make();
  c[key] = e;
  return e;
}

void finishWeights(ConvEntry& e, const memory::desc& want, const ConvDims& d, bool toUser) {
  auto& s = state();
  e.weightsMd = want;
  auto user = md(d.wei(), tag::hwio);
  if (want != user) {
    e.reorderWeights = true;
    e.weightsBuf.resize(want.get_size() / sizeof(float) + 16);
    e.weightsReorder = toUser ? dnnl::reorder(dnnl::reorder::primitive_desc(s.engine, want, s.engine, user))
                              : dnnl::reorder(dnnl::reorder::primitive_desc(s.engine, user, s.engine, want));
  }
}

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static const char* names[] = {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"};
  auto args = numbers(info[1], env, "conv2d", 19);
  int mode = int(args[0]);
  if (mode < 0 || mode > 2) fail(env, "conv2d", "", "unknown mode");
  const char* op = names[mode];
  Heap heap = heapOf(info[0], env, op);
  ConvDims d = convDims(args, 4);
  checkConv(env, op, d);
  auto& s = state();
  applyThreads(s.threads);
  s.calls++;
  const size_t xN = d.n * d.h * d.w * d.ci, wN = d.kh * d.kw * d.ci * d.co, yN = d.n * d.oh * d.ow * d.co;
  const std::string sh = d.shapes();
  try {
    if (mode == 0) {
      float* x = heap.at(env, op, sh, args[1], xN);
      float* w = heap.at(env, op, sh, args[2], wN);
      float* y = heap.at(env, op, sh, args[3], yN);
      auto e = cached(d.key("f", s.blockedWeights), [&] {
        auto pd = convForwardPd(d, s.blockedWeights, dnnl::prop_kind::forward_training);
        auto en = std::make_shared<ConvEntry>();
        en->prim = dnnl::convolution_forward(pd);
        finishWeights(*en, pd.weights_desc(), d, false);
        return en;
      });
      memory wUser(md(d.wei(), tag::hwio), s.engine, w);
      memory wMem = wUser;
      if (e->reorderWeights) {
        wMem = memory(e->weightsMd, s.engine, e->weightsBuf.data());
        e->weightsReorder.execute(s.stream, wUser, wMem);
      }
      e->prim.execute(s.stream, {{DNNL_ARG_SRC, memory(md(d.src(), tag::nhwc), s.engine, x)},
                                 {DNNL_ARG_WEIGHTS, wMem},
                                 {DNNL_ARG_DST, memory(md(d.dst(), tag::nhwc), s.engine, y)}});
    } else if (mode == 1) {
      float* dy = heap.at(env, op, sh, args[1], yN);
      float* w = heap.at(env, op, sh, args[2], wN);
      float* dx = heap.at(env, op, sh, args[3], xN);
      auto e = cached(d.key("d", s.blockedWeights), [&] {
        auto fwd = convForwardPd(d, s.blockedWeights, dnnl::prop_kind::forward_training);
#if DNNL_VERSION_MAJOR >= 3
        dnnl::convolution_backward_data::primitive_desc pd(s.engine, dnnl::algorithm::convolution_direct, md(d.src(), tag::nhwc),
                                                           md(d.wei(), s.blockedWeights ? tag::any : tag::hwio),
                                                           md(d.dst(), tag::nhwc), {d.sh, d.sw}, {d.pt, d.pl}, {d.pb, d.pr}, fwd);
#else
        dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, md(d.src(), tag::nhwc),
                                                   md(d.wei(), s.blockedWeights ? tag::any : tag::hwio), md(d.dst(), tag::nhwc),
                                                   {d.sh, d.sw}, {d.pt, d.pl}, {d.pb, d.pr});
        dnnl::convolution_backward_data::primitive_desc pd(desc, s.engine, fwd);
#endif
        auto en = std::make_shared<ConvEntry>();
        en->prim = dnnl::convolution_backward_data(pd);
        finishWeights(*en, pd.weights_desc(), d, false);
        return en;
      });
      memory wUser(md(d.wei(), tag::hwio), s.engine, w);
      memory wMem = wUser;
      if (e->reorderWeights) {
        wMem = memory(e->weightsMd, s.engine, e->weightsBuf.data());
        e->weightsReorder.execute(s.stream, wUser, wMem);
      }
      e->prim.execute(s.stream, {{DNNL_ARG_DIFF_DST, memory(md(d.dst(), tag::nhwc), s.engine, dy)},
                                 {DNNL_ARG_WEIGHTS, wMem},
                                 {DNNL_ARG_DIFF_SRC, memory(md(d.src(), tag::nhwc), s.engine, dx)}});
    } else {
      float* x = heap.at(env, op, sh, args[1], xN);
      float* dy = heap.at(env, op, sh, args[2], yN);
      float* dw = heap.at(env, op, sh, args[3], wN);
      auto e = cached(d.key("w", s.blockedWeights), [&] {
        auto fwd = convForwardPd(d, s.blockedWeights, dnnl::prop_kind::forward_training);
#if DNNL_VERSION_MAJOR >= 3
        dnnl::convolution_backward_weights::primitive_desc pd(s.engine, dnnl::algorithm::convolution_direct,
                                                              md(d.src(), tag::nhwc),
                                                              md(d.wei(), s.blockedWeights ? tag::any : tag::hwio),
                                                              md(d.dst(), tag::nhwc), {d.sh, d.sw}, {d.pt, d.pl}, {d.pb, d.pr}, fwd);
#else
        dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, md(d.src(), tag::nhwc),
                                                      md(d.wei(), s.blockedWeights ? tag::any : tag::hwio),
                                                      md(d.dst(), tag::nhwc), {d.sh, d.sw}, {d.pt, d.pl}, {d.pb, d.pr});
        dnnl::convolution_backward_weights::primitive_desc pd(desc, s.engine, fwd);
#endif
        auto en = std::make_shared<ConvEntry>();
        en->prim = dnnl::convolution_backward_weights(pd);
        finishWeights(*en, pd.diff_weights_desc(), d, true);
        return en;
      });
      memory dwUser(md(d.wei(), tag::hwio), s.engine, dw);
      memory dwMem = e->reorderWeights ? memory(e->weightsMd, s.engine, e->weightsBuf.data()) : dwUser;
      e->prim.execute(s.stream, {{DNNL_ARG_SRC, memory(md(d.src(), tag::nhwc), s.engine, x)},
                                 {DNNL_ARG_DIFF_DST, memory(md(d.dst(), tag::nhwc), s.engine, dy)},
                                 {DNNL_ARG_DIFF_WEIGHTS, dwMem}});
      if (e->reorderWeights) e->weightsReorder.execute(s.stream, dwMem, dwUser);
    }
    s.stream.wait();
  } catch (const dnnl::error& err) {
    fail(env, op, sh, std::string("oneDNN: ") + err.what());
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------------------
// Batched matrix product, row-major: C[b] = op(A[b]) · op(B[b]) (TF.js's BatchMatMul with equal batches).
// args = aOffset, bOffset, cOffset, batch, m, n, k, transposeA, transposeB.
Napi::Value MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "BatchMatMul";
  Heap heap = heapOf(info[0], env, op);
  auto a = numbers(info[1], env, op, 9);
  const int64_t batch = int64_t(a[3]), m = int64_t(a[4]), n = int64_t(a[5]), k = int64_t(a[6]);
  const bool ta = a[7] != 0, tb = a[8] != 0;
  const std::string sh = "a" + dimsString({batch, ta ? k : m, ta ? m : k}) + " b" + dimsString({batch, tb ? n : k, tb ? k : n});
  if (batch <= 0 || m <= 0 || n <= 0 || k <= 0) fail(env, op, sh, "every size must be positive");
  float* A = heap.at(env, op, sh, a[0], batch * m * k);
  float* B = heap.at(env, op, sh, a[1], batch * k * n);
  float* C = heap.at(env, op, sh, a[2], batch * m * n);
  auto& s = state();
  applyThreads(s.threads);
  s.calls++;
  for (int64_t b = 0; b < batch; b++) {
    auto st = dnnl::sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, A + b * m * k, ta ? m : k, B + b * k * n, tb ? k : n,
                          0.0f, C + b * m * n, n);
    if (st != dnnl::status::success) fail(env, op, sh, "oneDNN sgemm failed with status " + std::to_string(int(st)));
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------------------
// Batch normalisation over NHWC channels in training mode, optionally followed by ReLU.
// forward: args = x, gamma, beta, y, mean, variance (outputs: y and the biased batch statistics), n, h, w, c, eps, relu
// backward: args = x, y (for the ReLU mask), dy, gamma, mean, variance, dx, dgamma, dbeta, n, h, w, c, eps, relu
// Written as plain loops over channels-last data: per channel two reductions and one elementwise pass,
// which the compiler vectorises along the channel axis.
Napi::Value BatchNormForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "BatchNormTrain";
  Heap heap = heapOf(info[0], env, op);
  auto a = numbers(info[1], env, op, 12);
  const int64_t n = int64_t(a[6]), h = int64_t(a[7]), w = int64_t(a[8]), c = int64_t(a[9]);
  const float eps = float(a[10]);
  const bool relu = a[11] != 0;
  const std::string sh = "x" + dimsString({n, h, w, c});
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0) fail(env, op, sh, "every size must be positive");
  const int64_t rows = n * h * w;
  const float* x = heap.at(env, op, sh, a[0], rows * c);
  const float* gamma = heap.at(env, op, sh, a[1], c);
  const float* beta = heap.at(env, op, sh, a[2], c);
  float* y = heap.at(env, op, sh, a[3], rows * c);
  float* mean = heap.at(env, op, sh, a[4], c);
  float* var = heap.at(env, op, sh, a[5], c);
  state().calls++;
  std::vector<double> sum(c, 0.0), sq(c, 0.0);
  std::vector<float> ps(c), pq(c);
  // Float partial sums over blocks of rows, accumulated in double: fast and accurate enough for any batch.
  const int64_t block = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    std::fill(ps.begin(), ps.end(), 0.f);
    std::fill(pq.begin(), pq.end(), 0.f);
    const int64_t r1 = std::min(rows, r0 + block);
    float* __restrict q1 = ps.data();
    float* __restrict q2 = pq.data();
    for (int64_t r = r0; r < r1; r++) {
      const float* __restrict xr = x + r * c;
      for (int64_t j = 0; j < c; j++) {
        q1[j] += xr[j];
        q2[j] += xr[j] * xr[j];
      }
    }
    for (int64_t j = 0; j < c; j++) {
      sum[j] += ps[j];
      sq[j] += pq[j];
    }
  }
  std::vector<float> scale(c), shift(c);
  for (int64_t j = 0; j < c; j++) {
    double m = sum[j] / double(rows);
    double v = std::max(0.0, sq[j] / double(rows) - m * m);
    mean[j] = float(m);
    var[j] = float(v);
    scale[j] = float(gamma[j] / std::sqrt(v + eps));
    shift[j] = float(beta[j] - m * scale[j]);
  }
  const float* __restrict sc = scale.data();
  const float* __restrict sf = shift.data();
  for (int64_t r = 0; r < rows; r++) {
    const float* __restrict xr = x + r * c;
    float* __restrict yr = y + r * c;
    if (relu) {
      for (int64_t j = 0; j < c; j++) yr[j] = std::max(0.f, xr[j] * sc[j] + sf[j]);
    } else {
      for (int64_t j = 0; j < c; j++) yr[j] = xr[j] * sc[j] + sf[j];
    }
  }
  return env.Undefined();
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "BatchNormTrainGrad";
  Heap heap = heapOf(info[0], env, op);
  auto a = numbers(info[1], env, op, 15);
  const int64_t n = int64_t(a[9]), h = int64_t(a[10]), w = int64_t(a[11]), c = int64_t(a[12]);
  const float eps = float(a[13]);
  const bool relu = a[14] != 0;
  const std::string sh = "x" + dimsString({n, h, w, c});
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0) fail(env, op, sh, "every size must be positive");
  const int64_t rows = n * h * w;
  const float* x = heap.at(env, op, sh, a[0], rows * c);
  const float* y = heap.at(env, op, sh, a[1], rows * c);
  const float* dy = heap.at(env, op, sh, a[2], rows * c);
  const float* gamma = heap.at(env, op, sh, a[3], c);
  const float* mean = heap.at(env, op, sh, a[4], c);
  const float* var = heap.at(env, op, sh, a[5], c);
  float* dx = heap.at(env, op, sh, a[6], rows * c);
  float* dgamma = heap.at(env, op, sh, a[7], c);
  float* dbeta = heap.at(env, op, sh, a[8], c);
  state().calls++;
  std::vector<double> sdz(c, 0.0), sdzx(c, 0.0);
  std::vector<float> p1(c), p2(c);
  const int64_t block = 64;
  for (int64_t r0 = 0; r0 < rows; r0 += block) {
    std::fill(p1.begin(), p1.end(), 0.f);
    std::fill(p2.begin(), p2.end(), 0.f);
    const int64_t r1 = std::min(rows, r0 + block);
    float* __restrict q1 = p1.data();
    float* __restrict q2 = p2.data();
    for (int64_t r = r0; r < r1; r++) {
      const float* __restrict xr = x + r * c;
      const float* __restrict dyr = dy + r * c;
      const float* __restrict yr = y + r * c;
      for (int64_t j = 0; j < c; j++) {
        // Branch-free mask (unconditional loads) so that the loop vectorises.
        const float dz = dyr[j] * ((!relu || yr[j] > 0.f) ? 1.f : 0.f);
        q1[j] += dz;
        q2[j] += dz * xr[j];
      }
    }
    for (int64_t j = 0; j < c; j++) {
      sdz[j] += p1[j];
      sdzx[j] += p2[j];
    }
  }
  // dx = a·dz + b·x + c per channel, as layers.ts's custom gradient writes it.
  std::vector<float> ca(c), cb(c), cc(c);
  for (int64_t j = 0; j < c; j++) {
    double inv = 1.0 / std::sqrt(double(var[j]) + eps);
    double dBeta = sdz[j];
    double dGamma = inv * (sdzx[j] - mean[j] * dBeta);
    dbeta[j] = float(dBeta);
    dgamma[j] = float(dGamma);
    double aa = gamma[j] * inv;
    double bb = -aa * inv * dGamma / double(rows);
    ca[j] = float(aa);
    cb[j] = float(bb);
    cc[j] = float(-aa * dBeta / double(rows) - bb * mean[j]);
  }
  const float* __restrict pa = ca.data();
  const float* __restrict pb = cb.data();
  const float* __restrict pc = cc.data();
  for (int64_t r = 0; r < rows; r++) {
    const float* __restrict xr = x + r * c;
    const float* __restrict dyr = dy + r * c;
    const float* __restrict yr = y + r * c;
    float* __restrict dxr = dx + r * c;
    for (int64_t j = 0; j < c; j++) {
      const float dz = dyr[j] * ((!relu || yr[j] > 0.f) ? 1.f : 0.f);
      dxr[j] = pa[j] * dz + pb[j] * xr[j] + pc[j];
    }
  }
  return env.Undefined();
}


// ---------------------------------------------------------------------------------------------------------
// 2x2 average pooling, stride 2, on even NHWC sizes. args = in, out, n, h, w, c, backward.
// Forward: x [n,h,w,c] → y [n,h/2,w/2,c]; backward: dy [n,h/2,w/2,c] → dx [n,h,w,c] (each dy/4 to its window).
Napi::Value AvgPool2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = numbers(info[1], env, "AvgPool", 7);
  const bool backward = a[6] != 0;
  const char* op = backward ? "AvgPoolGrad" : "AvgPool";
  Heap heap = heapOf(info[0], env, op);
  const int64_t n = int64_t(a[2]), h = int64_t(a[3]), w = int64_t(a[4]), c = int64_t(a[5]);
  const std::string sh = "x" + dimsString({n, h, w, c});
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0 || h % 2 || w % 2) fail(env, op, sh, "sizes must be positive and even");
  const int64_t oh = h / 2, ow = w / 2;
  state().calls++;
  if (!backward) {
    const float* __restrict x = heap.at(env, op, sh, a[0], n * h * w * c);
    float* __restrict y = heap.at(env, op, sh, a[1], n * oh * ow * c);
    for (int64_t b = 0; b < n; b++)
      for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) {
          const float* p00 = x + ((b * h + 2 * i) * w + 2 * j) * c;
          const float* p01 = p00 + c;
          const float* p10 = p00 + w * c;
          const float* p11 = p10 + c;
          float* o = y + ((b * oh + i) * ow + j) * c;
          for (int64_t k = 0; k < c; k++) o[k] = 0.25f * ((p00[k] + p01[k]) + (p10[k] + p11[k]));
        }
  } else {
    const float* __restrict dy = heap.at(env, op, sh, a[0], n * oh * ow * c);
    float* __restrict dx = heap.at(env, op, sh, a[1], n * h * w * c);
    for (int64_t b = 0; b < n; b++)
      for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) {
          const float* g = dy + ((b * oh + i) * ow + j) * c;
          float* p00 = dx + ((b * h + 2 * i) * w + 2 * j) * c;
          float* p01 = p00 + c;
          float* p10 = p00 + w * c;
          float* p11 = p10 + c;
          for (int64_t k = 0; k < c; k++) {
            const float v = 0.25f * g[k];
            p00[k] = v;
            p01[k] = v;
            p10[k] = v;
            p11[k] = v;
          }
        }
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------------------
// One SGD step for one parameter tensor, as train/sgd.ts writes it: d = g + wd·p; v' = μ·v + d (v' = d on
// the first step); p' = p − lr·v'. args = p, g, v (or -1), pOut, vOut (or -1), size, lr, momentum, weightDecay.
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "SgdStep";
  Heap heap = heapOf(info[0], env, op);
  auto a = numbers(info[1], env, op, 9);
  const int64_t size = int64_t(a[5]);
  const float lr = float(a[6]), mu = float(a[7]), wd = float(a[8]);
  const std::string sh = "[" + std::to_string(size) + "]";
  const float* __restrict p = heap.at(env, op, sh, a[0], size);
  const float* __restrict g = heap.at(env, op, sh, a[1], size);
  const float* __restrict v = a[2] >= 0 ? heap.at(env, op, sh, a[2], size) : nullptr;
  float* __restrict po = heap.at(env, op, sh, a[3], size);
  float* __restrict vo = a[4] >= 0 ? heap.at(env, op, sh, a[4], size) : nullptr;
  state().calls++;
  for (int64_t i = 0; i < size; i++) {
    float d = wd > 0.f ? g[i] + p[i] * wd : g[i];
    if (vo) {
      d = v ? v[i] * mu + d : d;
      vo[i] = d;
    }
    po[i] = p[i] - d * lr;
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------------------

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1)
    throw Napi::TypeError::New(env, "setThreads: expected a positive integer");
  state().threads = info[0].As<Napi::Number>().Int32Value();
  return env.Undefined();
}

Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsBoolean()) {
    state().blockedWeights = info[0].As<Napi::Boolean>().Value();
    state().cache.clear();
  }
  return env.Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto v = dnnl::version();
  auto o = Napi::Object::New(env);
  o.Set("dnnl", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("cpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "tbb" : "other");
  o.Set("threads", state().threads);
  o.Set("cachedPrimitives", double(state().cache.size()));
  o.Set("calls", double(state().calls));
  o.Set("blockedWeights", state().blockedWeights);
  return o;
}

// Peak GEMM rate on this thread: the roofline that bench compares conv layers with.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = numbers(info[0], env, "sgemm", 4);
  const int64_t m = int64_t(a[0]), n = int64_t(a[1]), k = int64_t(a[2]), reps = int64_t(a[3]);
  std::vector<float> A(m * k, 0.5f), B(k * n, 0.25f), C(m * n);
  applyThreads(state().threads);
  for (int64_t r = 0; r < reps; r++) dnnl::sgemm('N', 'N', m, n, k, 1.0f, A.data(), k, B.data(), n, 0.0f, C.data(), n);
  return Napi::Number::New(env, C[0]);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("matMul", Napi::Function::New(env, MatMul));
  exports.Set("batchNormForward", Napi::Function::New(env, BatchNormForward));
  exports.Set("batchNormBackward", Napi::Function::New(env, BatchNormBackward));
  exports.Set("avgPool2", Napi::Function::New(env, AvgPool2));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("configure", Napi::Function::New(env, Configure));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  return exports;
}

}  // namespace

NODE_API_MODULE(superficial_native, Init)
