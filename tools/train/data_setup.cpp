#include "tools/train/data_setup.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>

#include "nn/data/cifar.h"
#include "nn/data/crop_flip.h"
#include "nn/data/idx.h"
#include "nn/data/image_folder.h"
#include "nn/data/random_erasing.h"
#include "nn/data/synthetic.h"
#include "ops/ops.h"

namespace soft::tools::train {

// The train split: shuffled, the last partial batch dropped; the test split: in order, every sample.
// Each worker assembles a whole batch, so each may have two batches claimed ahead (PyTorch's
// prefetch_factor 2): with fewer in flight than workers, the rest would idle.
data::LoaderOptions loader_options(const TrainConfig& c, bool train, const Shard& shard) {
  data::LoaderOptions o;
  o.pin_memory = c.data.pin_memory && parse_device(c.device).is_cuda();
  o.batch_size = train ? c.batch : c.eval.batch;
  o.shuffle = o.drop_last = train;
  o.seed = c.seed;
  o.workers = static_cast<int>(c.data.workers);
  o.prefetch = 2 * o.workers;
  o.rank = shard.rank;
  o.world_size = shard.world_size;
  if (train) o.repeats = c.augmentation.repeated_aug;
  return o;
}

void BadFiles::record(const std::string& path, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++count_;
  if (seen_.insert(path).second)
    std::cerr << "data: skipping a bad file (data.skip_bad_files), " << seen_.size() << " so far: " << error << "\n";
}

int64_t BadFiles::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return count_;
}

namespace {

namespace fs = std::filesystem;
using data::Dataset;

// The first `limit` samples (all when limit is 0 or larger than the dataset).
Dataset first_samples(const Dataset& ds, int64_t limit) {
  if (limit == 0 || limit >= ds.size()) return ds;
  Dataset out = ds;
  out.images = slice(ds.images, 0, 0, limit).contiguous();
  out.labels = slice(ds.labels, 0, 0, limit).contiguous();
  return out;
}

// Samples [begin, end) as their own dataset.
Dataset sample_range(const Dataset& ds, int64_t begin, int64_t end) {
  Dataset out = ds;
  out.images = slice(ds.images, 0, begin, end).contiguous();
  out.labels = slice(ds.labels, 0, begin, end).contiguous();
  return out;
}

// The dataset's name: its directory's.
std::string folder_name(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  return (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
}

struct InMemory {
  Dataset train, test;
};

Dataset load_split(const TrainConfig& c, bool train) {
  const std::string& path = c.data.path;
  std::error_code ec;
  SOFT_CHECK(fs::is_directory(path, ec), "data.path ", path, ": no such directory (the ", c.data.kind,
             " dataset", path == "/usr/share/datasets/fashion-mnist" ? "; install it: apt-get install dataset-fashion-mnist"
                                                                      : "",
             ")");
  if (c.data.kind == "mnist") return data::load_mnist_dir(path, train);
  return data::load_cifar10_dir(path, train);
}

// Synthetic data: one draw of train + test samples (so both share the class patterns), split.
InMemory synthetic_splits(const TrainConfig& c) {
  const auto& s = c.data.synthetic;
  Dataset all = data::synthetic_dataset(s.train + s.test, s.channels, s.size, s.size, s.classes, s.seed);
  return {sample_range(all, 0, s.train), sample_range(all, s.train, s.train + s.test)};
}

void describe_shape(TrainData& d, const Dataset& ds) {
  d.channels = ds.images.size(1);
  d.height = ds.images.size(2);
  d.width = ds.images.size(3);
  d.num_classes = ds.num_classes;
}

std::string describe(const std::string& name, int64_t train, int64_t test, const TrainData& d) {
  return detail::concat(name, ": ", train > 0 ? detail::concat(train, " train / ") : std::string(), test,
                        " test images of ", d.channels, "x", d.height, "x", d.width, ", ", d.num_classes, " classes");
}

// The normalisation: the config's, or the train split's channel statistics.
void choose_normalisation(const TrainConfig& c, const Dataset* train, int64_t channels, TrainData& d) {
  if (!c.data.mean.empty()) {
    SOFT_CHECK(static_cast<int64_t>(c.data.mean.size()) == channels, "data.mean/std have ", c.data.mean.size(),
               " values but the images have ", channels, " channels");
    d.mean = c.data.mean;
    d.std = c.data.std;
    return;
  }
  data::ChannelStats stats = data::channel_stats(*train);
  d.mean = stats.mean;
  d.std = stats.std;
}

data::DataLoader::Transform train_transform(const TrainConfig& c, const TrainData& d, bool crop_flip) {
  data::CropFlipConfig cf;
  cf.padding = c.augmentation.crop_padding;
  cf.hflip = c.augmentation.hflip;
  for (size_t ch = 0; ch < d.mean.size(); ++ch) cf.fill.push_back(static_cast<float>(-d.mean[ch] / d.std[ch]));
  data::RandomErasingConfig re;
  re.prob = c.augmentation.random_erase;
  re.mode = data::parse_erasing_mode(c.augmentation.erase_mode);
  const bool erase = re.prob > 0, crop = crop_flip && (cf.padding > 0 || cf.hflip);
  if (!erase && !crop) return nullptr;
  return [cf, re, erase, crop](Tensor& sample, Generator& gen) {  // [1, C, H, W]
    if (crop) data::random_crop_flip_(sample, cf, gen);
    if (erase) data::random_erase_(sample, re, gen);
  };
}

void make_in_memory(const TrainConfig& c, bool with_train, const Shard& shard, TrainData& d) {
  InMemory m;
  std::string name = c.data.kind == "synthetic" ? "synthetic" : folder_name(c.data.path);
  if (c.data.kind == "synthetic") {
    m = synthetic_splits(c);
  } else {
    if (with_train || c.data.mean.empty()) m.train = load_split(c, true);
    m.test = load_split(c, false);
  }
  if (m.train.size() > 0) m.train = first_samples(m.train, c.data.train_limit);
  m.test = first_samples(m.test, c.data.test_limit);
  describe_shape(d, m.test);
  choose_normalisation(c, &m.train, d.channels, d);
  if (with_train) data::normalize_(m.train, d.mean, d.std);
  data::normalize_(m.test, d.mean, d.std);
  if (with_train) {
    SOFT_CHECK(m.train.images.size(1) == d.channels && m.train.images.size(2) == d.height &&
                   m.train.images.size(3) == d.width,
               name, ": train images ", shape_str(m.train.images.shape()), " and test images ",
               shape_str(m.test.images.shape()), " differ in shape");
    d.num_classes = std::max(d.num_classes, m.train.num_classes);
    d.train.size = m.train.size();
    d.train.loader = std::make_unique<data::DataLoader>(m.train, loader_options(c, true, shard));
    d.train.loader->set_transform(train_transform(c, d, true));
  }
  d.test.size = m.test.size();
  d.test.loader = std::make_unique<data::DataLoader>(m.test, loader_options(c, false, shard));
  d.description = describe(name, d.train.size, d.test.size, d);
}

// An ImageFolder split as a loader source: each sample decoded and transformed on demand. With
// `bad` set, a file that fails is recorded and the next one in the folder's order is loaded in
// its place (with the same generator, so the run stays reproducible).
data::SampleSource folder_source(const std::shared_ptr<data::ImageFolder>& folder, const data::Transform& t,
                                 int64_t limit, const std::string& name, const std::shared_ptr<BadFiles>& bad) {
  data::SampleSource s;
  s.size = limit > 0 ? std::min(limit, folder->size()) : folder->size();
  s.name = name;
  if (!bad) {
    s.load = [folder, t](int64_t i, Generator& gen) { return folder->load(i, t, gen); };
    return s;
  }
  const int64_t n = s.size;
  s.load = [folder, t, bad, n, name](int64_t i, Generator& gen) {
    for (int64_t k = 0; k < n; ++k) {
      const int64_t index = (i + k) % n;
      try {
        return folder->load(index, t, gen);
      } catch (const Error& e) {
        bad->record(folder->path(index), e.what());
      }
    }
    throw Error(detail::concat("the ", name, " split has no image that decodes (data.skip_bad_files)"));
  };
  return s;
}

std::string first_existing(const std::string& root, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (fs::is_directory(fs::path(root) / n)) return (fs::path(root) / n).string();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : " or ") + n + "/";
  throw Error(detail::concat(root, ": no ", list, " folder (an image-folder dataset holds train/ and val/)"));
}

void make_folder(const TrainConfig& c, bool with_train, const Shard& shard, TrainData& d) {
  SOFT_CHECK(fs::is_directory(c.data.path), c.data.path, ": no such directory (data.path of a folder dataset)");
  auto test = std::make_shared<data::ImageFolder>(first_existing(c.data.path, {"val", "test"}));
  d.channels = 3;
  d.height = d.width = c.data.image_size;
  d.num_classes = test->num_classes();
  d.mean = c.data.mean.empty() ? std::vector<double>{0.485, 0.456, 0.406} : c.data.mean;
  d.std = c.data.std.empty() ? std::vector<double>{0.229, 0.224, 0.225} : c.data.std;
  SOFT_CHECK(d.mean.size() == 3, "data.mean/std have ", d.mean.size(), " values but folder images have 3 channels");
  data::Transform eval_t;
  eval_t.size = c.data.image_size;
  eval_t.interpolation = data::parse_interpolation(c.augmentation.interpolation);
  std::copy(d.mean.begin(), d.mean.end(), eval_t.mean.begin());
  std::copy(d.std.begin(), d.std.end(), eval_t.std.begin());
  if (c.data.skip_bad_files) d.bad_files = std::make_shared<BadFiles>();
  data::SampleSource test_src = folder_source(test, eval_t, c.data.test_limit, "test", d.bad_files);
  d.test.size = test_src.size;
  d.test.loader = std::make_unique<data::DataLoader>(test_src, loader_options(c, false, shard));
  if (with_train) {
    auto train = std::make_shared<data::ImageFolder>(first_existing(c.data.path, {"train"}));
    SOFT_CHECK(train->class_names() == test->class_names(), c.data.path,
               ": the train and test folders have different classes (", train->num_classes(), " and ",
               test->num_classes(), " class folders)");
    data::Transform train_t = eval_t;
    train_t.train = true;
    train_t.scale_min = c.augmentation.scale_min;
    train_t.hflip = c.augmentation.hflip;
    if (!c.augmentation.auto_augment.empty()) {
      // timm fills what geometric ops uncover with the dataset mean as 8-bit RGB.
      data::pil::Rgb fill{};
      for (int ch = 0; ch < 3; ++ch)
        fill[ch] = static_cast<uint8_t>(std::min(255.0, std::nearbyint(255.0 * d.mean[ch])));
      train_t.rand_augment = data::parse_rand_augment(c.augmentation.auto_augment, fill);
    } else {
      const double j = c.augmentation.color_jitter;
      train_t.color_jitter = {j, j, j};
    }
    data::SampleSource train_src = folder_source(train, train_t, c.data.train_limit, "train", d.bad_files);
    d.train.size = train_src.size;
    d.train.loader = std::make_unique<data::DataLoader>(train_src, loader_options(c, true, shard));
    d.train.loader->set_transform(train_transform(c, d, false));
  }
  d.description = describe(folder_name(c.data.path), d.train.size, d.test.size, d);
}

TrainData make_data(const TrainConfig& c, bool with_train, const Shard& shard) {
  TrainData d;
  if (c.data.kind == "folder") make_folder(c, with_train, shard, d);
  else make_in_memory(c, with_train, shard, d);
  SOFT_CHECK(!with_train || d.train.loader->batches_per_epoch() > 0, "the train split has ", d.train.size,
             " images, fewer than one batch of ", c.batch);
  SOFT_CHECK(d.test.size > 0, "the test split is empty");
  return d;
}

}  // namespace

TrainData make_train_data(const TrainConfig& config, const Shard& shard) { return make_data(config, true, shard); }
TrainData make_test_data(const TrainConfig& config, const Shard& shard) { return make_data(config, false, shard); }

}  // namespace soft::tools::train
