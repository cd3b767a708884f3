uint32_t shim_popcount(uint32_t v);
int32_t shim_float_key(float x);
void shim_threshold(const void *src, int src_is_float, int channel_major, size_t rows, size_t channels,
                    const int32_t *lo, const int32_t *hi, const uint8_t *flip, size_t t_len, uint32_t *bits,
                    uint32_t *mask);
void shim_unpack(const uint32_t *bits, const uint32_t *mask, size_t rows, size_t channels, float *out);
void shim_dense_ban(const uint32_t *x, const uint32_t *x_mask, size_t rows, size_t k_in, const float *w, size_t n,
                    float *y);
void shim_channel_op(const float *x, size_t n, const float *c, size_t c_len, int kind, float *y);
void shim_softmax(const float *x, size_t rows, size_t channels, int log, float *y);
void shim_maxpool_bits(const int *geometry, const uint32_t *x, const uint32_t *x_mask, const uint32_t *min_words,
                       uint32_t *y, uint32_t *y_mask);
void shim_maxpool_float(const int *geometry, const float *x, float *y);
void shim_avgpool_float(const int *geometry, const float *x, int count_include_pad, float *y);
void shim_sumpool_float(const int *geometry, const float *x, int divisor, float *y);
void shim_arith(const float *a, const float *b, int kind, int rank, const int *dims, const int *a_step,
                const int *b_step, float *y);
void shim_prelu(const float *x, size_t n, const float *s, size_t s_len, float *y);
void shim_stuff_float(const float *x, const int *g, float *y);
void shim_stuff_bits(const uint32_t *x, const uint32_t *x_mask, const int *g, uint32_t *y, uint32_t *y_mask);
void shim_transpose(const uint32_t *x, int rank, const int *dims, const int *perm, uint32_t *y);
