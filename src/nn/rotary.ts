// Rotary position embedding tables (Su et al. 2021) as Hugging Face computes them
// (modeling_rope_utils.py): inv_freq[j] = 1 / theta^(2j / head_dim), rescaled by `rope_scaling` —
// 'linear' divides every frequency by `factor`; 'llama3' (Llama 3.1+) divides the low frequencies (long
// wavelengths) by `factor`, keeps the high ones and blends in between. The angles are computed in float64
// and rounded once (HF computes them in float32: within ~1e-7 relative).

export interface RopeScaling {
  rope_type: 'linear' | 'llama3';
  factor: number;
  /** llama3 only. */
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

/** The head_dim/2 rotation frequencies, after scaling. */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling | null): Float64Array {
  const half = headDim / 2, inv = new Float64Array(half);
  for (let j = 0; j < half; j++) inv[j] = 1 / theta ** ((2 * j) / headDim);
  if (!scaling) return inv;
  if (scaling.rope_type === 'linear') return inv.map((f) => f / scaling.factor);
  // llama3: _compute_llama3_parameters
  const { factor } = scaling, low = scaling.low_freq_factor!, high = scaling.high_freq_factor!;
  const oldContext = scaling.original_max_position_embeddings!;
  const lowWavelen = oldContext / low, highWavelen = oldContext / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowWavelen) return f / factor;
    if (wavelen < highWavelen) return f;
    const smooth = (oldContext / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/** cos and sin of position × frequency, [positions, head_dim/2], grown on demand (a long context costs nothing until used). */
export class RotaryEmbedding {
  readonly invFreq: Float64Array;
  private cos = new Float32Array(0);
  private sin = new Float32Array(0);

  constructor(readonly headDim: number, theta: number, scaling: RopeScaling | null) {
    this.invFreq = ropeInverseFrequencies(headDim, theta, scaling);
  }

  /** The tables of positions past..past+T-1. */
  tables(past: number, T: number): { cos: Float32Array; sin: Float32Array } {
    const half = this.headDim / 2, need = (past + T) * half;
    if (this.cos.length < need) {
      const positions = Math.max(past + T, 2 * (this.cos.length / half), 64);
      this.cos = new Float32Array(positions * half);
      this.sin = new Float32Array(positions * half);
      for (let p = 0; p < positions; p++) {
        for (let j = 0; j < half; j++) {
          const angle = p * this.invFreq[j]!;
          this.cos[p * half + j] = Math.cos(angle);
          this.sin[p * half + j] = Math.sin(angle);
        }
      }
    }
    return { cos: this.cos.subarray(past * half, need), sin: this.sin.subarray(past * half, need) };
  }
}
