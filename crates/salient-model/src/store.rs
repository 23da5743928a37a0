//! The network's tensors, one slot per `state_dict` entry, in `state_dict` order.
//!
//! Every tensor lives in a [`Var`] so that loading, optimiser steps and running-statistic updates can
//! overwrite it in place; the layers hold handles that share its storage. Trainable parameters are
//! handed to layers as tracked tensors (gradients flow); frozen parameters and BatchNorm buffers are
//! handed out detached, so a frozen prefix builds no autograd graph at all.

use std::collections::HashMap;

use candle_core::{Result, Tensor, Var};

use crate::spec::is_buffer;
use crate::{FreezePolicy, Precision};

/// What a tensor is to training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A parameter the optimiser updates.
    Trainable,
    /// A parameter held constant by the freeze policy.
    Frozen,
    /// A BatchNorm running statistic (never a parameter).
    Buffer,
}

pub(crate) struct Slot {
    pub name: String,
    pub var: Var,
    pub role: Role,
}

pub(crate) struct TensorStore {
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
    /// What the convolutions built from this store compute in (they read it from here, so that the
    /// layers between the network and the convolutions need not carry it).
    precision: Precision,
}

impl TensorStore {
    /// One slot per `(name, tensor)`, with its role decided by the freeze policy.
    pub fn new(
        tensors: Vec<(String, Tensor)>,
        freeze: FreezePolicy,
        precision: Precision,
    ) -> Result<Self> {
        let mut slots = Vec::with_capacity(tensors.len());
        let mut index = HashMap::with_capacity(tensors.len());
        for (name, tensor) in tensors {
            let role = if is_buffer(&name) {
                Role::Buffer
            } else if freeze.is_frozen(&name) {
                Role::Frozen
            } else {
                Role::Trainable
            };
            index.insert(name.clone(), slots.len());
            slots.push(Slot {
                name,
                var: Var::from_tensor(&tensor)?,
                role,
            });
        }
        Ok(Self {
            slots,
            index,
            precision,
        })
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub fn slot(&self, name: &str) -> Result<&Slot> {
        self.index
            .get(name)
            .map(|&i| &self.slots[i])
            .ok_or_else(|| candle_core::Error::Msg(format!("network has no tensor `{name}`")))
    }

    /// The tensor a layer computes with: tracked for trainable parameters, detached otherwise.
    pub fn compute(&self, name: &str) -> Result<Tensor> {
        let slot = self.slot(name)?;
        Ok(match slot.role {
            Role::Trainable => slot.var.as_tensor().clone(),
            Role::Frozen | Role::Buffer => slot.var.as_detached_tensor(),
        })
    }

    /// The storage-owning variable, for in-place updates of buffers.
    pub fn var(&self, name: &str) -> Result<Var> {
        Ok(self.slot(name)?.var.clone())
    }
}
