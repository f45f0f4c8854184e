<?php
/**
 * Plugin API: WP_Hook class (style reproduction)
 *
 * @package WordPress
 * @subpackage Plugin
 * @since 4.7.0
 */

/**
 * Core class used to implement action and filter hook functionality.
 */
#[AllowDynamicProperties]
final class WP_Hook implements Iterator, ArrayAccess {

	/** @var array Hook callbacks. */
	public $callbacks = array();

	/** @var array Priorities list. */
	protected $priorities = array();

	/** @var int[] The priority keys of actively running iterations of a hook. */
	private $iterations = array();

	/** @var int[] The current priority of actively running iterations of a hook. */
	private $current_priority = array();

	/** @var int Number of levels this hook can be recursively called. */
	private $nesting_level = 0;

	/** @var bool Flag for if we're currently doing an action, rather than a filter. */
	private $doing_action = false;

	public function add_filter( $hook_name, $callback, $priority, $accepted_args ) {
		$idx = _wp_filter_build_unique_id( $hook_name, $callback, $priority );

		$priority_existed = isset( $this->callbacks[ $priority ] );

		$this->callbacks[ $priority ][ $idx ] = array(
			'function'      => $callback,
			'accepted_args' => (int) $accepted_args,
		);

		if ( ! $priority_existed && count( $this->callbacks ) > 1 ) {
			ksort( $this->callbacks, SORT_NUMERIC );
		}

		$this->priorities = array_keys( $this->callbacks );

		if ( $this->nesting_level > 0 ) {
			$this->resort_active_iterations( $priority, $priority_existed );
		}
	}

	private function resort_active_iterations( $new_priority = false, $priority_existed = false ) {
		$new_priorities = $this->priorities;

		if ( ! $new_priorities ) {
			foreach ( $this->iterations as $index => $iteration ) {
				$this->iterations[ $index ] = $new_priorities;
			}
			return;
		}

		$min = min( $new_priorities );
		foreach ( $this->iterations as $index => &$iteration ) {
			$current = current( $iteration );
			if ( false === $current ) {
				continue;
			}
			$iteration = $new_priorities;
			if ( $current < $min ) {
				array_unshift( $iteration, $current );
				continue;
			}
			while ( current( $iteration ) < $current ) {
				if ( false === next( $iteration ) ) {
					break;
				}
			}
		}
		unset( $iteration );
	}

	public function remove_filter( $hook_name, $callback, $priority ) {
		$function_key = _wp_filter_build_unique_id( $hook_name, $callback, $priority );
		$exists = isset( $this->callbacks[ $priority ][ $function_key ] );
		if ( $exists ) {
			unset( $this->callbacks[ $priority ][ $function_key ] );
			if ( ! $this->callbacks[ $priority ] ) {
				unset( $this->callbacks[ $priority ] );
				$this->priorities = array_keys( $this->callbacks );
				if ( $this->nesting_level > 0 ) {
					$this->resort_active_iterations();
				}
			}
		}
		return $exists;
	}

	public function has_filter( $hook_name = '', $callback = false ) {
		if ( false === $callback ) {
			return $this->has_filters();
		}
		$function_key = _wp_filter_build_unique_id( $hook_name, $callback, false );
		if ( ! $function_key ) {
			return false;
		}
		foreach ( $this->callbacks as $priority => $callbacks ) {
			if ( isset( $callbacks[ $function_key ] ) ) {
				return $priority;
			}
		}
		return false;
	}

	public function has_filters() {
		foreach ( $this->callbacks as $callbacks ) {
			if ( $callbacks ) {
				return true;
			}
		}
		return false;
	}

	/**
	 * Calls the callback functions that have been added to a filter hook.
	 *
	 * @param mixed $value The value to filter.
	 * @param array $args  Additional parameters to pass to the callback functions.
	 * @return mixed The filtered value after all hooked functions are applied to it.
	 */
	public function apply_filters( $value, $args ) {
		if ( ! $this->callbacks ) {
			return $value;
		}

		$nesting_level = $this->nesting_level++;

		$this->iterations[ $nesting_level ] = $this->priorities;

		$num_args = count( $args );

		do {
			$this->current_priority[ $nesting_level ] = current( $this->iterations[ $nesting_level ] );
			$priority = $this->current_priority[ $nesting_level ];

			foreach ( $this->callbacks[ $priority ] as $the_ ) {
				if ( ! $this->doing_action ) {
					$args[0] = $value;
				}

				// Avoid the array_slice() if possible.
				if ( 0 === $the_['accepted_args'] ) {
					$value = call_user_func( $the_['function'] );
				} elseif ( $the_['accepted_args'] >= $num_args ) {
					$value = call_user_func_array( $the_['function'], $args );
				} else {
					$value = call_user_func_array( $the_['function'], array_slice( $args, 0, $the_['accepted_args'] ) );
				}
			}
		} while ( false !== next( $this->iterations[ $nesting_level ] ) );

		unset( $this->iterations[ $nesting_level ] );
		unset( $this->current_priority[ $nesting_level ] );

		--$this->nesting_level;

		return $value;
	}

	public function do_action( $args ) {
		$this->doing_action = true;
		$this->apply_filters( '', $args );

		if ( ! $this->nesting_level ) {
			$this->doing_action = false;
		}
	}

	public function do_all_hook( &$args ) {
		$nesting_level = $this->nesting_level++;
		$this->iterations[ $nesting_level ] = $this->priorities;

		do {
			$priority = current( $this->iterations[ $nesting_level ] );
			foreach ( $this->callbacks[ $priority ] as $the_ ) {
				call_user_func_array( $the_['function'], $args );
			}
		} while ( false !== next( $this->iterations[ $nesting_level ] ) );

		unset( $this->iterations[ $nesting_level ] );
		--$this->nesting_level;
	}

	public function current_priority() {
		if ( false === current( $this->iterations ) ) {
			return false;
		}
		return current( current( $this->iterations ) );
	}

	#[ReturnTypeWillChange]
	public function offsetExists( $offset ) { return isset( $this->callbacks[ $offset ] ); }

	#[ReturnTypeWillChange]
	public function offsetGet( $offset ) { return isset( $this->callbacks[ $offset ] ) ? $this->callbacks[ $offset ] : null; }

	#[ReturnTypeWillChange]
	public function offsetSet( $offset, $value ) {
		if ( is_null( $offset ) ) {
			$this->callbacks[] = $value;
		} else {
			$this->callbacks[ $offset ] = $value;
		}
		$this->priorities = array_keys( $this->callbacks );
	}

	#[ReturnTypeWillChange]
	public function offsetUnset( $offset ) {
		unset( $this->callbacks[ $offset ] );
		$this->priorities = array_keys( $this->callbacks );
	}

	#[ReturnTypeWillChange]
	public function current() { return current( $this->callbacks ); }

	#[ReturnTypeWillChange]
	public function next() { return next( $this->callbacks ); }

	#[ReturnTypeWillChange]
	public function key() { return key( $this->callbacks ); }

	#[ReturnTypeWillChange]
	public function valid() { return key( $this->callbacks ) !== null; }

	#[ReturnTypeWillChange]
	public function rewind() { reset( $this->callbacks ); }
}
