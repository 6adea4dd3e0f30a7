//! What a publish does for each platform once its build steps have succeeded: check what was
//! built against the base, check that the image can start, and write the platform's layers.
//! `build::run` hands a platform over as soon as its steps are done when the platforms build
//! side by side, so one platform's layers are compressed while another still compiles.
//!
//! Registry outputs start uploading layers as they are written, but only once every platform
//! has passed its checks: an image refused after the build must leave nothing in a registry.
//! A large layer's bytes may go while it is compressed; the registry makes it a blob only when
//! the layer is handed over as ready, after the checks.

use super::cache_repo::Shared;
use super::checks;
use super::publish::{Event, LayerReport};
use super::runtime::{self, BaseTrees};
use crate::build::Built;
use crate::growing::GrowingBlob;
use crate::image::assemble::{self, BuildMeta, NamedLayer};
use crate::layer::tree::Listings;
use crate::layer::{BlobStore, LayerBlob, LayerWriter, Prepared};
use crate::oci::{self, BlobSource, Image, Layer, ResolvedBase};
use crate::plan::Plan;
use crate::sink::Sink;
use std::cell::{Cell, RefCell};

/// Hands written layers to the registry outputs once every platform passed its checks, and
/// holds them until then; layers being written are handed at once, to be followed.
pub(super) struct Uploads<'s> {
    sinks: &'s [(Box<dyn Sink>, String)],
    /// Every platform passed its checks: written layers go straight to the outputs.
    open: Cell<bool>,
    /// Layers written before that (layer, made now).
    held: RefCell<Vec<(Layer, bool)>>,
}

impl<'s> Uploads<'s> {
    pub fn new(sinks: &'s [(Box<dyn Sink>, String)]) -> Self {
        Uploads {
            sinks,
            open: Cell::new(false),
            held: RefCell::default(),
        }
    }

    /// A layer blob is being written: registry outputs may start sending its bytes at once.
    /// The blob is finished in the registry only once it is handed over as ready.
    pub fn started(&self, blob: GrowingBlob) {
        for (s, _) in self.sinks {
            s.layer_started(&blob);
        }
    }

    fn ready(&self, layer: &Layer, made: bool) {
        if self.open.get() {
            for (s, _) in self.sinks {
                s.layer_ready(layer, made);
            }
        } else {
            self.held.borrow_mut().push((layer.clone(), made));
        }
    }

    /// Every platform passed its checks: the held layers go, and the next ones at once.
    fn open(&self) {
        self.open.set(true);
        for (layer, made) in self.held.take() {
            self.ready(&layer, made);
        }
    }
}

/// Where one of a platform's layers comes from.
enum Slot {
    /// The shared build cache's layer.
    Served(Box<Layer>),
    /// The writer's, at this position of what it was given.
    Written(usize),
}

/// A platform's layers once prepared: where each comes from (position in the plan's layers,
/// slot), and the layers the writer was asked to prepare.
struct Layers {
    slots: Vec<(usize, Slot)>,
    prepared: Vec<Prepared>,
}

/// What checking a built platform reads: shared with the thread that checks it.
#[derive(Clone, Copy)]
struct Checking<'a> {
    plan: &'a Plan,
    base: &'a ResolvedBase,
    trees: Option<&'a BaseTrees>,
    listings: &'a Listings,
    shared: Option<&'a Shared>,
}

impl Checking<'_> {
    /// The checks of what a platform built. Layers from the shared cache were checked on this
    /// base when they were built.
    fn verify(&self, ti: usize) -> anyhow::Result<()> {
        if self.shared.is_some_and(|s| s.serves_built(ti)) {
            return Ok(());
        }
        let t = &self.plan.targets[ti];
        checks::after_build(t, self.base)?;
        if let Some(trees) = self.trees {
            runtime::verify(self.plan, &t.platform, self.base, trees, self.listings)?;
        }
        Ok(())
    }
}

/// The image layer of a blob in the store.
fn layer_of(blob: &LayerBlob, store: &BlobStore) -> Layer {
    Layer {
        descriptor: oci::descriptor(blob.media_type, blob.size, &blob.digest),
        diff_id: blob.diff_id.clone(),
        source: BlobSource::File(store.path(&blob.digest)),
    }
}

/// One platform's image as written.
struct Written {
    image: Image,
    reports: Vec<LayerReport>,
    /// The layers written (not taken from the shared cache): position in the plan, blob.
    blobs: Vec<(usize, LayerBlob)>,
}

/// Everything a platform's checks and layers need.
pub(super) struct Inputs<'a> {
    pub plan: &'a Plan,
    pub base: &'a ResolvedBase,
    /// The base's file trees, for the start-up check (`None`: not checked).
    pub trees: Option<&'a BaseTrees>,
    pub listings: &'a Listings,
    pub shared: Option<&'a Shared>,
    pub store: &'a BlobStore,
    pub writer: &'a LayerWriter<'a>,
    pub uploads: &'a Uploads<'a>,
    pub meta: &'a BuildMeta,
}

/// A publish's platforms as they are handed over: which were checked, what each wrote.
pub(super) struct Layering<'a> {
    cx: Inputs<'a>,
    checked: Vec<bool>,
    written: Vec<Option<Written>>,
}

/// The images of a publish, in plan order, with what their layers were.
pub(super) struct Layered {
    pub images: Vec<Image>,
    pub reports: Vec<LayerReport>,
    /// Each platform's layers written now (position in the plan, blob).
    pub written: Vec<Vec<(usize, LayerBlob)>>,
}

impl<'a> Layering<'a> {
    pub fn new(cx: Inputs<'a>) -> Self {
        let n = cx.plan.targets.len();
        Layering {
            cx,
            checked: vec![false; n],
            written: (0..n).map(|_| None).collect(),
        }
    }

    /// A platform built: checks it (and, once nothing builds any more, every platform not yet
    /// checked, so uploads start before its layers are written), then writes its layers.
    pub fn built(&mut self, b: Built, on: &mut dyn FnMut(Event)) -> anyhow::Result<()> {
        let candidates = if b.all {
            0..self.cx.plan.targets.len()
        } else {
            b.target..b.target + 1
        };
        let to_check: Vec<usize> = candidates.filter(|ti| !self.checked[*ti]).collect();
        let checking = Checking {
            plan: self.cx.plan,
            base: self.cx.base,
            trees: self.cx.trees,
            listings: self.cx.listings,
            shared: self.cx.shared,
        };
        // The checks and the layer keys both go over what the build left (the start-up check
        // walks the trees the layers copy): the platform's layers are listed, fingerprinted
        // and looked up while it is checked. Nothing reaches an output before the checks pass.
        let (checked, prepared) = std::thread::scope(|s| {
            let verifying = s.spawn(|| to_check.iter().try_for_each(|&ti| checking.verify(ti)));
            let prepared = self.prepare(b.target);
            let checked = verifying
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (checked, prepared)
        });
        checked?;
        for ti in to_check {
            self.checked[ti] = true;
        }
        if self.checked.iter().all(|c| *c) {
            self.cx.uploads.open();
        }
        let written = self.layers(b.target, prepared?, on)?;
        self.written[b.target] = Some(written);
        Ok(())
    }

    /// Each of a platform's layers: from the shared cache, or listed, fingerprinted and looked
    /// up in the layer cache (a position in the returned list of prepared layers).
    fn prepare(&self, ti: usize) -> anyhow::Result<Layers> {
        let t = &self.cx.plan.targets[ti];
        let mut slots = Vec::new();
        let mut prepared = Vec::new();
        for (li, spec) in t.layers.iter().enumerate() {
            if crate::layer::tree::only_empty_trees(&spec.entries) {
                continue;
            }
            match self.cx.shared.and_then(|s| Some((s, s.served(ti, li)?))) {
                Some((s, entry)) => {
                    slots.push((li, Slot::Served(Box::new(s.layer(entry, self.cx.store)))))
                }
                None => {
                    slots.push((li, Slot::Written(prepared.len())));
                    prepared.push(self.cx.writer.prepare(spec)?);
                }
            }
        }
        Ok(Layers { slots, prepared })
    }

    /// Writes the layers the cache lacks, side by side; each goes to the outputs as soon as
    /// its blob is complete.
    fn layers(
        &self,
        ti: usize,
        Layers { slots, prepared }: Layers,
        on: &mut dyn FnMut(Event),
    ) -> anyhow::Result<Written> {
        let t = &self.cx.plan.targets[ti];
        let base_image = self
            .cx
            .base
            .for_platform(&t.platform)
            .expect("base::resolve returns an image for every requested platform");
        let store = self.cx.store;
        let written = self.cx.writer.write_each(prepared, &mut |_, blob| {
            // Registry outputs start sending it while the other layers are written.
            self.cx.uploads.ready(&layer_of(blob, store), !blob.cached);
        })?;
        let mut layers = Vec::new();
        let mut reports = Vec::new();
        let mut blobs = Vec::new();
        for (li, slot) in slots {
            let spec = &t.layers[li];
            let (layer, cached, from_cache) = match slot {
                Slot::Served(layer) => (*layer, true, true),
                Slot::Written(at) => {
                    let blob = &written[at];
                    blobs.push((li, blob.clone()));
                    (layer_of(blob, store), blob.cached, false)
                }
            };
            let report = LayerReport {
                platform: t.platform.to_string(),
                name: spec.name.clone(),
                digest: layer.digest(),
                size: layer.size(),
                cached,
                shared: from_cache,
            };
            on(Event::Layer(&report));
            reports.push(report);
            layers.push(NamedLayer {
                name: spec.name.clone(),
                layer,
            });
        }
        let image = assemble::image(base_image, layers, &self.cx.plan.config, self.cx.meta)?;
        Ok(Written {
            image,
            reports,
            blobs,
        })
    }

    /// Every platform's image, in plan order. Called once every platform was handed over.
    pub fn finish(self) -> Layered {
        let mut out = Layered {
            images: Vec::new(),
            reports: Vec::new(),
            written: Vec::new(),
        };
        for w in self.written {
            let w = w.expect("build::run hands every platform over before it returns");
            out.images.push(w.image);
            out.reports.extend(w.reports);
            out.written.push(w.blobs);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::assemble::BuildMeta;
    use crate::oci::{BaseImage, ImageSet};
    use crate::plan::{Check, EntryKind, FileEntry, LayerSpec, Linkage, TargetPlan};
    use crate::sink::{BlobProvider, Published, SinkError};
    use std::path::Path;
    use std::rc::Rc;

    /// Records what a registry output is handed, in order.
    struct Recorder(Rc<RefCell<Vec<String>>>);

    impl Sink for Recorder {
        fn write(&self, _: &ImageSet, _: &dyn BlobProvider) -> Result<Published, SinkError> {
            unreachable!("only layers are handed over here")
        }
        fn layer_ready(&self, layer: &Layer, _made: bool) {
            self.0
                .borrow_mut()
                .push(format!("ready {}", layer.digest()));
        }
        fn layer_started(&self, _blob: &GrowingBlob) {
            self.0.borrow_mut().push("started".into());
        }
    }

    /// A file big enough to be followed while it is compressed (its tar over 8 MiB), of bytes
    /// that do not compress.
    fn big_file(path: &Path, seed: u64) {
        let mut x = seed | 1;
        let bytes: Vec<u8> = (0..9 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(path, bytes).unwrap();
    }

    fn target(platform: &str, binary: &Path, checks: Vec<Check>) -> TargetPlan {
        TargetPlan {
            platform: platform.parse().unwrap(),
            steps: Vec::new(),
            layers: vec![LayerSpec {
                name: "binary".into(),
                entries: vec![FileEntry {
                    target: "/app".into(),
                    mode: 0o755,
                    kind: EntryKind::File {
                        source: binary.to_path_buf(),
                    },
                }],
            }],
            checks,
        }
    }

    fn plan(dir: &Path, targets: Vec<TargetPlan>) -> Plan {
        Plan {
            detector: "test".into(),
            reasons: Vec::new(),
            name: "app".into(),
            project_dir: dir.to_path_buf(),
            targets,
            config: Default::default(),
            base: "scratch".into(),
            excluded: Vec::new(),
        }
    }

    fn scratch(plan: &Plan) -> ResolvedBase {
        ResolvedBase {
            name: "scratch".into(),
            digest: None,
            images: plan
                .targets
                .iter()
                .map(|t| BaseImage {
                    platform: t.platform.clone(),
                    config: crate::oci::base::scratch_config(),
                    layers: Vec::new(),
                })
                .collect(),
        }
    }

    /// What the output had seen after each hand-over (how many calls).
    type SeenAfter = Vec<usize>;

    /// Hands `plan`'s platforms over as `handed` says, with one registry output recording
    /// what it is given; returns the outcome of each hand-over and what the output saw.
    fn hand_over(
        plan: &Plan,
        handed: &[Built],
    ) -> (
        Vec<anyhow::Result<()>>,
        Vec<String>,
        Option<Layered>,
        SeenAfter,
    ) {
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let sinks: Vec<(Box<dyn Sink>, String)> =
            vec![(Box::new(Recorder(seen.clone())), "registry".into())];
        let uploads = Uploads::new(&sinks);
        let follow = |blob: GrowingBlob| uploads.started(blob);
        let writer = LayerWriter::new(&store, 0).with_follower(&follow);
        let listings = Listings::default();
        let base = scratch(plan);
        let meta = BuildMeta {
            created: 0,
            annotations: Default::default(),
        };
        let mut layering = Layering::new(Inputs {
            plan,
            base: &base,
            trees: None,
            listings: &listings,
            shared: None,
            store: &store,
            writer: &writer,
            uploads: &uploads,
            meta: &meta,
        });
        let mut after = Vec::new();
        let results: Vec<_> = handed
            .iter()
            .map(|b| {
                let r = layering.built(*b, &mut |_| {});
                after.push(seen.borrow().len());
                r
            })
            .collect();
        let layered = results.iter().all(|r| r.is_ok()).then(|| layering.finish());
        let seen = seen.borrow().clone();
        (results, seen, layered, after)
    }

    #[test]
    fn layers_go_to_the_outputs_once_every_platform_is_checked() {
        let d = tempfile::tempdir().unwrap();
        let (amd, arm) = (d.path().join("amd64"), d.path().join("arm64"));
        big_file(&amd, 1);
        big_file(&arm, 2);
        let plan = plan(
            d.path(),
            vec![
                target("linux/amd64", &amd, vec![]),
                target("linux/arm64", &arm, vec![]),
            ],
        );
        // arm64 built first, while amd64 still built.
        let (results, seen, layered, after) = hand_over(
            &plan,
            &[
                Built {
                    target: 1,
                    all: false,
                },
                Built {
                    target: 0,
                    all: true,
                },
            ],
        );
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        // Before amd64 was checked the output was only told arm64's layer was started.
        assert_eq!(after[0], 1, "{seen:?}");
        let layered = layered.unwrap();
        let digests: Vec<String> = layered
            .reports
            .iter()
            .map(|r| r.digest.to_string())
            .collect();
        // Each layer was followed as it was compressed; arm64's was held as ready until
        // amd64 was checked too.
        assert_eq!(
            seen,
            [
                "started".to_string(),
                format!("ready {}", digests[1]),
                "started".to_string(),
                format!("ready {}", digests[0]),
            ]
        );
        // The images and reports are in plan order, whatever order the platforms came in.
        let platforms: Vec<&str> = layered
            .reports
            .iter()
            .map(|r| r.platform.as_str())
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
        assert_eq!(layered.images.len(), 2);
        assert_eq!(layered.images[0].layers[0].digest().to_string(), digests[0]);
        assert_eq!(layered.written[1][0].1.digest.to_string(), digests[1]);
    }

    #[test]
    fn a_platform_refused_after_its_build_sends_no_layer_of_any_platform() {
        let d = tempfile::tempdir().unwrap();
        let (amd, arm) = (d.path().join("amd64"), d.path().join("arm64"));
        big_file(&amd, 1);
        // Not an ELF file: the linkage check of arm64's binary fails.
        std::fs::write(&arm, "#!/bin/sh\n").unwrap();
        let refused = Check::Linkage {
            binary: arm.clone(),
            target: "/app".into(),
            expect: Linkage::Static,
        };
        let plan = plan(
            d.path(),
            vec![
                target("linux/amd64", &amd, vec![]),
                target("linux/arm64", &arm, vec![refused]),
            ],
        );
        let (results, seen, _, _) = hand_over(
            &plan,
            &[
                Built {
                    target: 0,
                    all: false,
                },
                Built {
                    target: 1,
                    all: true,
                },
            ],
        );
        assert!(results[0].is_ok(), "{:?}", results[0]);
        let err = format!("{:#}", results[1].as_ref().unwrap_err());
        assert!(err.contains("linux/arm64"), "{err}");
        // amd64's layer was written and followed, but never handed over as ready: no
        // output makes it a blob.
        assert_eq!(seen, ["started"]);
    }
}
