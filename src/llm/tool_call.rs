//! [`ToolCall`]: a fragment of a tool call.

/// A fragment of a tool (function) call, as models stream them: the first fragment of a call
/// names it (its id and the function), later ones carry pieces of its JSON arguments. The
/// fragments of one call share its `index`; several calls may interleave.
///
/// The flush adapter never merges fragments: each reaches the client as the model sent it.
///
/// # Examples
///
/// ```
/// use tokenflush::llm::ToolCall;
///
/// let first = ToolCall::new(0).with_id("call_1").with_name("get_weather");
/// let more = ToolCall::new(0).with_arguments("{\"city\":");
/// assert_eq!((first.name(), more.arguments()), (Some("get_weather"), "{\"city\":"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ToolCall {
    index: u32,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
}

impl ToolCall {
    /// A fragment of the call at `index` (0 for the first call of a response), with no id, no
    /// name and no arguments yet.
    #[must_use]
    pub fn new(index: u32) -> Self {
        Self {
            index,
            ..Self::default()
        }
    }

    /// Sets the call's id (`call_…`, `toolu_…`), sent with its first fragment.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the function's name, sent with the call's first fragment.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets this fragment's piece of the JSON arguments.
    #[must_use]
    pub fn with_arguments(mut self, arguments: impl Into<String>) -> Self {
        self.arguments = arguments.into();
        self
    }

    /// Which call of the response this fragment belongs to.
    #[must_use]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The call's id, on its first fragment.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The function's name, on the call's first fragment.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// This fragment's piece of the JSON arguments (possibly empty).
    #[must_use]
    pub fn arguments(&self) -> &str {
        &self.arguments
    }
}
