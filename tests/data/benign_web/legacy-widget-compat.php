<?php
/*
Plugin Name: Recent Comments Plus
Description: Sidebar widget that lists recent comments with avatars.
Version: 1.4.2
Author: Example Plugins
License: GPLv2 or later
*/

if ( ! defined( 'ABSPATH' ) ) {
	die( '-1' );
}

class RCP_Widget extends WP_Widget {

	function __construct() {
		parent::__construct( 'rcp_widget', __( 'Recent Comments Plus', 'rcp' ), array( 'description' => __( 'Recent comments with avatars', 'rcp' ) ) );
	}

	function widget( $args, $instance ) {
		$number   = ! empty( $instance['number'] ) ? absint( $instance['number'] ) : 5;
		$comments = get_comments( array( 'number' => $number, 'status' => 'approve', 'post_status' => 'publish' ) );
		echo $args['before_widget'];
		if ( ! empty( $instance['title'] ) ) {
			echo $args['before_title'] . esc_html( $instance['title'] ) . $args['after_title'];
		}
		echo '<ul class="rcp-list">';
		foreach ( (array) $comments as $comment ) {
			echo '<li>' . get_avatar( $comment, 32 ) . ' <a href="' . esc_url( get_comment_link( $comment ) ) . '">' . esc_html( get_comment_author( $comment ) ) . '</a></li>';
		}
		echo '</ul>';
		echo $args['after_widget'];
	}

	function form( $instance ) {
		$title  = isset( $instance['title'] ) ? $instance['title'] : '';
		$number = isset( $instance['number'] ) ? absint( $instance['number'] ) : 5;
		?>
		<p><label for="<?php echo $this->get_field_id( 'title' ); ?>"><?php _e( 'Title:', 'rcp' ); ?></label>
		<input class="widefat" id="<?php echo $this->get_field_id( 'title' ); ?>" name="<?php echo $this->get_field_name( 'title' ); ?>" type="text" value="<?php echo esc_attr( $title ); ?>" /></p>
		<p><label for="<?php echo $this->get_field_id( 'number' ); ?>"><?php _e( 'Number of comments:', 'rcp' ); ?></label>
		<input id="<?php echo $this->get_field_id( 'number' ); ?>" name="<?php echo $this->get_field_name( 'number' ); ?>" type="number" value="<?php echo $number; ?>" size="3" /></p>
		<?php
	}

	function update( $new_instance, $old_instance ) {
		$instance           = array();
		$instance['title']  = sanitize_text_field( $new_instance['title'] );
		$instance['number'] = absint( $new_instance['number'] );
		return $instance;
	}
}

// PHP 5.2 compatibility (no closures available on some hosts at the time).
if ( version_compare( PHP_VERSION, '5.3', '<' ) ) {
	add_action( 'widgets_init', create_function( '', 'return register_widget("RCP_Widget");' ) );
} else {
	add_action( 'widgets_init', function () {
		register_widget( 'RCP_Widget' );
	} );
}
