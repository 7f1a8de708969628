// Python bindings for the StyleGAN2 inference kernels (see ops_kernel.cu).
#include <torch/extension.h>

torch::Tensor upfirdn2d_cuda(const torch::Tensor& x, const torch::Tensor& kernel, int64_t up,
                             int64_t down, int64_t pad0, int64_t pad1);
torch::Tensor bias_leaky_relu_cuda(const torch::Tensor& x, const torch::Tensor& bias,
                                   double negative_slope, double scale);

static torch::Tensor upfirdn2d(const torch::Tensor& x, const torch::Tensor& kernel, int64_t up,
                               int64_t down, int64_t pad0, int64_t pad1) {
  TORCH_CHECK(x.is_cuda() && x.dim() == 4, "upfirdn2d: expected a 4-D CUDA tensor");
  TORCH_CHECK(kernel.dim() == 2, "upfirdn2d: expected a 2-D kernel");
  TORCH_CHECK(up >= 1 && down >= 1, "upfirdn2d: up and down must be >= 1");
  return upfirdn2d_cuda(x.contiguous(), kernel.contiguous(), up, down, pad0, pad1);
}

static torch::Tensor bias_leaky_relu(const torch::Tensor& x, const torch::Tensor& bias,
                                     double negative_slope, double scale) {
  TORCH_CHECK(x.is_cuda() && x.dim() >= 2, "bias_leaky_relu: expected a CUDA tensor [N, C, ...]");
  TORCH_CHECK(bias.numel() == x.size(1), "bias_leaky_relu: bias must have C entries");
  return bias_leaky_relu_cuda(x.contiguous(), bias.contiguous(), negative_slope, scale);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("upfirdn2d", &upfirdn2d, "upsample, pad, FIR filter, downsample (forward only)");
  m.def("bias_leaky_relu", &bias_leaky_relu, "leaky_relu(x + bias) * scale (forward only)");
}
