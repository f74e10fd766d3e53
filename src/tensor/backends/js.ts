// The pure-TypeScript backend: every kernel, written for clarity first. It runs where the native build
// is missing and is the oracle the native kernels are tested against.
import type { Backend, F32 } from '../backend.js';
import { hashUniform } from '../random.js';

const GELU_C = Math.sqrt(2 / Math.PI);

/** The float32 bits u rounded to the nearest bfloat16 (ties to even); NaN stays NaN. */
function bf16Bits(u: number): number {
  return (u & 0x7fffffff) > 0x7f800000 ? u : (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
}

/** x rounded to the nearest bfloat16, as a float32 buffer. */
function roundToBf16(x: F32): F32 {
  const out = Float32Array.from(x), bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = bf16Bits(bits[i]!);
  return out;
}

const oneF32 = new Float32Array(1), oneBits = new Uint32Array(oneF32.buffer);
/** x rounded to float32, then to the nearest bfloat16 (as a kernel rounds a float32 value it computed). */
function bf16(x: number): number {
  oneF32[0] = x;
  oneBits[0] = bf16Bits(oneBits[0]!);
  return oneF32[0]!;
}
const same = (x: number) => x;

function matmul(a: F32, b: F32, c: F32, bias: F32 | null, batch: number, M: number, N: number, K: number,
  transA: boolean, transB: boolean, accumulate: boolean, bBatchStride: number, bf16: boolean): void {
  if (bf16) {
    a = roundToBf16(a.subarray(0, batch * M * K));
    b = roundToBf16(b.subarray(0, batch === 0 || K === 0 ? 0 : (batch - 1) * bBatchStride + K * N));
  }
  // op(A)[i,k] = A[i*K + k] or A[k*M + i]; op(B)[k,j] = B[k*N + j] or B[j*K + k].
  const aStrideI = transA ? 1 : K, aStrideK = transA ? M : 1;
  const bStrideK = transB ? 1 : N, bStrideJ = transB ? K : 1;
  const row = new Float64Array(N);
  for (let bt = 0; bt < batch; bt++) {
    const aOff = bt * M * K, bOff = bt * bBatchStride, cOff = bt * M * N;
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const aik = a[aOff + i * aStrideI + k * aStrideK]!;
        if (aik === 0) continue;
        const bRow = bOff + k * bStrideK;
        for (let j = 0; j < N; j++) row[j]! += aik * b[bRow + j * bStrideJ]!;
      }
      const cRow = cOff + i * N;
      for (let j = 0; j < N; j++) {
        let v = row[j]!;
        if (bias) v += bias[j]!;
        c[cRow + j] = accumulate ? c[cRow + j]! + v : v;
      }
    }
  }
}

function layernormForward(x: F32, w: F32, b: F32 | null, out: F32, mean: F32, rstd: F32, N: number, C: number, eps: number): void {
  for (let i = 0; i < N; i++) {
    const off = i * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += x[off + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) {
      const d = x[off + c]! - m;
      v += d * d;
    }
    const r = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out[off + c] = (x[off + c]! - m) * r * w[c]! + (b ? b[c]! : 0);
    mean[i] = m;
    rstd[i] = r;
  }
}

function layernormBackward(dout: F32, x: F32, w: F32, mean: F32, rstd: F32, dx: F32, dw: F32, db: F32 | null, N: number, C: number): void {
  const dwAcc = new Float64Array(C), dbAcc = new Float64Array(C);
  for (let i = 0; i < N; i++) {
    const off = i * C, m = mean[i]!, r = rstd[i]!;
    // dx = r * (g - mean(g) - xhat * mean(g * xhat)), with g = dout * w.
    let gMean = 0, gxMean = 0;
    for (let c = 0; c < C; c++) {
      const xhat = (x[off + c]! - m) * r;
      const g = dout[off + c]! * w[c]!;
      gMean += g;
      gxMean += g * xhat;
      dwAcc[c]! += dout[off + c]! * xhat;
      dbAcc[c]! += dout[off + c]!;
    }
    gMean /= C;
    gxMean /= C;
    for (let c = 0; c < C; c++) {
      const xhat = (x[off + c]! - m) * r;
      dx[off + c] = r * (dout[off + c]! * w[c]! - gMean - xhat * gxMean);
    }
  }
  for (let c = 0; c < C; c++) {
    dw[c] = dwAcc[c]!;
    if (db) db[c] = dbAcc[c]!;
  }
}

/** Grouped-query layout of packed qkv rows: width, head size, and the column of query head h's k (v is KV further). */
function qkvLayout(C: number, nh: number, nkv: number) {
  const hs = C / nh, KV = nkv * hs, group = nh / nkv;
  return { hs, KV, W: C + 2 * KV, kCol: (h: number) => C + Math.floor(h / group) * hs };
}

// In bfloat16 (see Kernels.attentionForward), qkv and dout are rounded first and the products' other
// operands where they are formed: forward, the unnormalised probabilities exp(s - max) (after dropout), the
// row's sum dividing the output after the product; backward, the dropped-out P and dS.
function attentionForward(qkv: F32, out: F32, lse: F32, B: number, T: number, C: number, nh: number, nkv: number, dropoutP: number, seed: number, bf16Products: boolean): void {
  const { hs, KV, W, kCol } = qkvLayout(C, nh, nkv), scale = 1 / Math.sqrt(hs), keep = 1 / (1 - dropoutP);
  if (bf16Products) qkv = roundToBf16(qkv.subarray(0, B * T * W));
  const round = bf16Products ? bf16 : same;
  const p = new Float64Array(T), acc = new Float64Array(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nh; h++) {
      for (let t = 0; t < T; t++) {
        const qOff = (b * T + t) * W + h * hs;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          const kOff = (b * T + j) * W + kCol(h);
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[qOff + d]! * qkv[kOff + d]!;
          s *= scale;
          p[j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) sum += Math.exp(p[j]! - max);
        const rowLse = max + Math.log(sum);
        lse[(b * nh + h) * T + t] = rowLse;
        acc.fill(0);
        const maskBase = ((b * nh + h) * T + t) * T;
        for (let j = 0; j <= t; j++) {
          let pj = bf16Products ? Math.fround(Math.exp(p[j]! - max)) : Math.exp(p[j]! - rowLse);
          if (dropoutP > 0) pj = hashUniform(seed, maskBase + j) >= dropoutP ? pj * keep : 0;
          pj = round(pj);
          const vOff = (b * T + j) * W + kCol(h) + KV;
          for (let d = 0; d < hs; d++) acc[d]! += pj * qkv[vOff + d]!;
        }
        const oOff = (b * T + t) * C + h * hs;
        for (let d = 0; d < hs; d++) out[oOff + d] = bf16Products ? acc[d]! / sum : acc[d]!;
      }
    }
  }
}

function attentionBackward(dout: F32, qkv: F32, _out: F32, lse: F32, dqkv: F32, B: number, T: number, C: number, nh: number, nkv: number, dropoutP: number, seed: number, bf16Products: boolean): void {
  const { hs, KV, W, kCol } = qkvLayout(C, nh, nkv), scale = 1 / Math.sqrt(hs), keep = 1 / (1 - dropoutP);
  if (bf16Products) {
    qkv = roundToBf16(qkv.subarray(0, B * T * W));
    dout = roundToBf16(dout.subarray(0, B * T * C));
  }
  const round = bf16Products ? bf16 : same;
  dqkv.fill(0, 0, B * T * W);
  const p = new Float64Array(T), dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nh; h++) {
      for (let t = 0; t < T; t++) {
        const qOff = (b * T + t) * W + h * hs, oOff = (b * T + t) * C + h * hs;
        const rowLse = lse[(b * nh + h) * T + t]!;
        const maskBase = ((b * nh + h) * T + t) * T;
        // Rebuild the probabilities, then dP = dout · v (through the dropout mask), and the softmax
        // backward dS = P (dP - Σ P dP).
        let dot = 0;
        for (let j = 0; j <= t; j++) {
          const kOff = (b * T + j) * W + kCol(h), vOff = kOff + KV;
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[qOff + d]! * qkv[kOff + d]!;
          const pj = Math.exp(s * scale - rowLse);
          const m = dropoutP > 0 ? (hashUniform(seed, maskBase + j) >= dropoutP ? keep : 0) : 1;
          let dpj = 0;
          const pm = round(pj * m);
          for (let d = 0; d < hs; d++) {
            dpj += dout[oOff + d]! * qkv[vOff + d]!;
            dqkv[vOff + d]! += pm * dout[oOff + d]!;
          }
          dpj *= m;
          p[j] = pj;
          dp[j] = dpj;
          dot += pj * dpj;
        }
        for (let j = 0; j <= t; j++) {
          const ds = round(p[j]! * (dp[j]! - dot) * scale);
          const kOff = (b * T + j) * W + kCol(h);
          for (let d = 0; d < hs; d++) {
            dqkv[qOff + d]! += ds * qkv[kOff + d]!;
            dqkv[kOff + d]! += ds * qkv[qOff + d]!;
          }
        }
      }
    }
  }
}

function attentionCached(qkv: F32, kCache: F32, vCache: F32, out: F32, B: number, n: number, past: number, maxT: number, C: number, nh: number, nkv: number): void {
  const { hs, KV, W, kCol } = qkvLayout(C, nh, nkv), scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const src = (b * n + i) * W, dst = (b * maxT + past + i) * KV;
      kCache.set(qkv.subarray(src + C, src + C + KV), dst);
      vCache.set(qkv.subarray(src + C + KV, src + C + 2 * KV), dst);
    }
  }
  const p = new Float64Array(past + n), acc = new Float64Array(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nh; h++) {
      const col = kCol(h) - C;
      for (let i = 0; i < n; i++) {
        const qOff = (b * n + i) * W + h * hs, last = past + i;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          const kOff = (b * maxT + j) * KV + col;
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[qOff + d]! * kCache[kOff + d]!;
          p[j] = s * scale;
          if (p[j]! > max) max = p[j]!;
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          p[j] = Math.exp(p[j]! - max);
          sum += p[j]!;
        }
        acc.fill(0);
        for (let j = 0; j <= last; j++) {
          const vOff = (b * maxT + j) * KV + col, w = p[j]! / sum;
          for (let d = 0; d < hs; d++) acc[d]! += w * vCache[vOff + d]!;
        }
        const oOff = (b * n + i) * C + h * hs;
        for (let d = 0; d < hs; d++) out[oOff + d] = acc[d]!;
      }
    }
  }
}

function rmsnormForward(x: F32, w: F32, out: F32, rstd: F32, N: number, C: number, eps: number): void {
  for (let i = 0; i < N; i++) {
    const off = i * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[off + c]! * x[off + c]!;
    const r = Math.fround(1 / Math.sqrt(ss / C + eps));
    for (let c = 0; c < C; c++) out[off + c] = x[off + c]! * r * w[c]!;
    rstd[i] = r;
  }
}

function rmsnormBackward(dout: F32, x: F32, w: F32, rstd: F32, dx: F32, dw: F32, N: number, C: number): void {
  const dwAcc = new Float64Array(C);
  for (let i = 0; i < N; i++) {
    const off = i * C, r = rstd[i]!;
    // dx = r (g − xhat · mean(g · xhat)) with g = dout · w, xhat = x · r.
    let gxMean = 0;
    for (let c = 0; c < C; c++) {
      const xhat = x[off + c]! * r;
      gxMean += dout[off + c]! * w[c]! * xhat;
      dwAcc[c]! += dout[off + c]! * xhat;
    }
    gxMean /= C;
    for (let c = 0; c < C; c++) dx[off + c] = r * (dout[off + c]! * w[c]! - x[off + c]! * r * gxMean);
  }
  for (let c = 0; c < C; c++) dw[c] = dwAcc[c]!;
}

function rope(x: F32, out: F32, cos: F32, sin: F32, N: number, T: number, nh: number, hs: number, inverse: boolean): void {
  const half = hs / 2, sign = inverse ? -1 : 1;
  for (let r = 0; r < N; r++) {
    const tab = (r % T) * half;
    for (let h = 0; h < nh; h++) {
      const off = (r * nh + h) * hs;
      for (let d = 0; d < half; d++) {
        const x1 = x[off + d]!, x2 = x[off + half + d]!, c = cos[tab + d]!, s = sign * sin[tab + d]!;
        out[off + d] = x1 * c - x2 * s;
        out[off + half + d] = x2 * c + x1 * s;
      }
    }
  }
}

function crossEntropyForward(logits: F32, targets: Int32Array, losses: F32, N: number, V: number, ignoreIndex: number): void {
  for (let i = 0; i < N; i++) {
    const t = targets[i]!;
    if (t === ignoreIndex) {
      losses[i] = 0;
      continue;
    }
    if (t < 0 || t >= V) throw new Error(`cross-entropy: target ${t} at row ${i} is outside the vocabulary [0, ${V})`);
    const off = i * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[off + j]! > max) max = logits[off + j]!;
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[off + j]! - max);
    losses[i] = max + Math.log(sum) - logits[off + t]!;
  }
}

function crossEntropyBackward(logits: F32, targets: Int32Array, dlogits: F32, N: number, V: number, ignoreIndex: number, scale: number): void {
  for (let i = 0; i < N; i++) {
    const off = i * V, t = targets[i]!;
    if (t === ignoreIndex) {
      dlogits.fill(0, off, off + V);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[off + j]! > max) max = logits[off + j]!;
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[off + j]! - max);
    for (let j = 0; j < V; j++) dlogits[off + j] = (Math.exp(logits[off + j]! - max) / sum - (j === t ? 1 : 0)) * scale;
  }
}

/** Nearest integer, ties to even (the native kernels' rounding). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * x [M, K] split per group of `group` inputs into two int8 parts, as matmulQ8 multiplies it: s1 = max|x| / 127,
 * q1 = x / s1 rounded to nearest even, s2 = s1 / 254, q2 = (x - s1·q1) / s2 rounded (all float32 steps).
 * A group with a NaN or infinity gets NaN scales. q1 and q2 are [M][2][K]; scales [M, K / group, 2].
 */
function splitActivations(x: F32, M: number, K: number, group: number): { xq: Int8Array; xscale: F32 } {
  const groups = K / group, xq = new Int8Array(2 * M * K), xscale = new Float32Array(2 * M * groups);
  for (let m = 0; m < M; m++) {
    for (let g = 0; g < groups; g++) {
      const k0 = m * K + g * group;
      let max = 0;
      for (let k = k0; k < k0 + group; k++) max = Math.max(max, Math.abs(x[k]!));
      const s1 = Number.isFinite(max) ? Math.fround(max / 127) : NaN, s2 = Math.fround(s1 / 254);
      xscale[2 * (m * groups + g)] = s1;
      xscale[2 * (m * groups + g) + 1] = s2;
      if (s1 === 0 || Number.isNaN(s1)) continue;
      for (let k = k0; k < k0 + group; k++) {
        const q1 = roundHalfEven(Math.fround(x[k]! / s1)), at = k + m * K; // row m's parts start at 2mK
        xq[at] = q1;
        if (s2 !== 0) xq[at + K] = roundHalfEven(Math.fround(Math.fround(x[k]! - q1 * s1) / s2));
      }
    }
  }
  return { xq, xscale };
}

export function createJsBackend(): Backend {
  return {
    name: 'js',
    threads: 1,
    matmul,
    matmulPair(a1, b1, c1, M1, N1, K1, transA1, transB1, a2, b2, c2, M2, N2, K2, transA2, transB2, bf16) {
      matmul(a1, b1, c1, null, 1, M1, N1, K1, transA1, transB1, false, 0, bf16);
      matmul(a2, b2, c2, null, 1, M2, N2, K2, transA2, transB2, false, 0, bf16);
    },
    add(a, b, out, n) {
      for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
    },
    mul(a, b, out, n) {
      for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
    },
    axpy(alpha, x, y, n) {
      for (let i = 0; i < n; i++) y[i]! += alpha * x[i]!;
    },
    scale(x, alpha, out, n) {
      for (let i = 0; i < n; i++) out[i] = alpha * x[i]!;
    },
    sumRows(x, out, rows, cols) {
      const acc = new Float64Array(cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) acc[c]! += x[r * cols + c]!;
      for (let c = 0; c < cols; c++) out[c] = acc[c]!;
    },
    sum(x, n) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i]!;
      return s;
    },
    sumSquares(x, n) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
      return s;
    },
    layernormForward,
    layernormBackward,
    geluForward(x, out, n, bf16Output) {
      const round = bf16Output ? bf16 : same;
      for (let i = 0; i < n; i++) {
        const u = x[i]!;
        out[i] = round(0.5 * u * (1 + Math.tanh(GELU_C * (u + 0.044715 * u * u * u))));
      }
    },
    geluBackward(x, dout, dx, n, bf16Output) {
      const round = bf16Output ? bf16 : same;
      for (let i = 0; i < n; i++) {
        const u = x[i]!;
        const th = Math.tanh(GELU_C * (u + 0.044715 * u * u * u));
        const dth = (1 - th * th) * GELU_C * (1 + 3 * 0.044715 * u * u);
        dx[i] = round(dout[i]! * (0.5 * (1 + th) + 0.5 * u * dth));
      }
    },
    rmsnormForward,
    rmsnormBackward,
    rope,
    swigluForward(gate, up, out, n) {
      for (let i = 0; i < n; i++) {
        const g = gate[i]!;
        out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
      }
    },
    swigluBackward(gate, up, dout, dgate, dup, n) {
      for (let i = 0; i < n; i++) {
        const g = gate[i]!, s = 1 / (1 + Math.exp(-g));
        dup[i] = dout[i]! * g * s;
        dgate[i] = dout[i]! * up[i]! * s * (1 + g * (1 - s));
      }
    },
    relu2Forward(x, out, n) {
      for (let i = 0; i < n; i++) {
        const r = Math.max(0, x[i]!);
        out[i] = r * r;
      }
    },
    relu2Backward(x, dout, dx, n) {
      for (let i = 0; i < n; i++) dx[i] = 2 * Math.max(0, x[i]!) * dout[i]!;
    },
    softcapForward(x, out, n, cap) {
      for (let i = 0; i < n; i++) out[i] = cap * Math.tanh(x[i]! / cap);
    },
    softcapBackward(out, dout, dx, n, cap) {
      for (let i = 0; i < n; i++) {
        const t = out[i]! / cap;
        dx[i] = dout[i]! * (1 - t * t);
      }
    },
    attentionForward,
    attentionBackward,
    attentionCached,
    crossEntropyForward,
    crossEntropyBackward,
    embeddingForward(table, idx, out, N, C) {
      for (let i = 0; i < N; i++) out.set(table.subarray(idx[i]! * C, idx[i]! * C + C), i * C);
    },
    embeddingBackward(dout, idx, dtable, N, C, V) {
      dtable.fill(0, 0, V * C);
      for (let i = 0; i < N; i++) {
        const row = idx[i]! * C;
        for (let c = 0; c < C; c++) dtable[row + c]! += dout[i * C + c]!;
      }
    },
    dropout(x, out, n, p, seed) {
      const keep = 1 / (1 - p);
      for (let i = 0; i < n; i++) out[i] = hashUniform(seed, i) >= p ? x[i]! * keep : 0;
    },
    matmulQ8(x, q, scales, bias, out, M, N, K, group) {
      const groups = K / group, { xq, xscale } = splitActivations(x, M, K, group);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let g = 0; g < groups; g++) {
            let part1 = 0, part2 = 0;
            for (let k = g * group; k < (g + 1) * group; k++) {
              part1 += xq[2 * m * K + k]! * q[n * K + k]!;
              part2 += xq[(2 * m + 1) * K + k]! * q[n * K + k]!;
            }
            const i = 2 * (m * groups + g);
            s += (part1 * xscale[i]! + part2 * xscale[i + 1]!) * scales[n * groups + g]!;
          }
          out[m * N + n] = s + (bias ? bias[n]! : 0);
        }
      }
    },
    matmulBf16(x, w, bias, out, M, N, K) {
      const widened = new Float32Array(new Uint32Array(K).buffer);
      const bits = new Uint32Array(widened.buffer);
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) bits[k] = w[n * K + k]! << 16;
        for (let m = 0; m < M; m++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += x[m * K + k]! * widened[k]!;
          out[m * N + n] = s + (bias ? bias[n]! : 0);
        }
      }
    },
    releaseFreeMemory() {
      // Nothing to release: the js backend allocates only through V8.
    },
    adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step) {
      // lr m̂ / (√v̂ + eps) with the bias corrections folded into two constants, as torch computes it.
      const stepSize = lr / (1 - Math.pow(beta1, step)), invRootBc2 = 1 / Math.sqrt(1 - Math.pow(beta2, step));
      for (let i = 0; i < n; i++) {
        const g = grad[i]!;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        const p = param[i]! * (1 - lr * weightDecay);
        param[i] = p - (stepSize * m[i]!) / (Math.sqrt(v[i]!) * invRootBc2 + eps);
      }
    },
  };
}
